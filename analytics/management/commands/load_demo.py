from django.core.management.base import BaseCommand, CommandParser

from analytics.demo import load_demo_studies
from tracker.demo import DEMO_USERS, load_demo
from tracker.models import Team


class Command(BaseCommand):
    help = "Load demo data from the public reference tables (idempotent); the worker refits studies."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-studies", action="store_true", help="skip the demo scaling-law studies")

    def handle(self, *args: object, **options: object) -> None:
        summary = load_demo()
        self.stdout.write(
            f"demo data: {summary.models} models, {summary.runs} runs, {summary.facts} cost facts, "
            f"{summary.users} users"
        )
        if not options["no_studies"]:
            studies = load_demo_studies(team=Team.objects.get(slug="demo-lab"))
            self.stdout.write(f"demo studies: {len(studies)} (fits are computed by the Celery worker)")
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  login {username} / {password} ({role})")
