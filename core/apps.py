from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Worker processes record heartbeats (core.liveness); connecting here runs in every process that
        # sets Django up, and the signals only fire inside a Celery worker.
        from celery.signals import worker_ready, worker_shutdown

        from core import liveness

        worker_ready.connect(liveness.on_worker_ready, weak=False)
        worker_shutdown.connect(liveness.on_worker_shutdown, weak=False)
