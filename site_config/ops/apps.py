from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "site_config.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Celery signal handlers that count tasks, and the worker heartbeat (site_config/ops/signals.py).
        from site_config.ops import signals  # noqa: F401
