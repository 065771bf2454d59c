from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        # Celery signal handlers that keep task rows and live pages in step (see dashboard/live/).
        from dashboard.live import signals  # noqa: F401
