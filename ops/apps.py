from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Celery signal handlers that count tasks and record worker heartbeats (ops/signals.py).
        from ops import signals  # noqa: F401
