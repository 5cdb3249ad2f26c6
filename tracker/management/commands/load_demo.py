from django.core.management.base import BaseCommand

from tracker.demo import DEMO_USERS, load_demo


class Command(BaseCommand):
    help = "Load demo data built from the public reference tables (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        summary = load_demo()
        self.stdout.write(
            f"demo data: {summary.models} models, {summary.runs} runs, {summary.facts} cost facts, "
            f"{summary.users} users"
        )
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  login {username} / {password} ({role})")
