from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        # Celery signal handlers that keep task rows and live pages in step (see dashboard/live/).
        # Default schedules from settings.PERIODIC_TASKS, created when missing after every migrate.
        from django.db.models.signals import post_migrate, pre_save
        from django_celery_beat.models import PeriodicTask

        from dashboard import tasks  # noqa: F401  (every process knows these tasks: retry, the export's download)
        from dashboard.announcements import live as announcements_live  # noqa: F401  (blog sends -> live bars)
        from dashboard.api import schema  # noqa: F401  (the API token's OpenAPI security scheme)
        from dashboard.exports import signals as exports_signals  # noqa: F401  (each worker's scratch folder)
        from dashboard.live import rights, signals  # noqa: F401
        from dashboard.moderation import live  # noqa: F401  (blog comment changes -> live moderation queues)
        from dashboard.schedules import live as schedules_live  # noqa: F401  (runs of a schedule -> live schedule pages)
        from dashboard.schedules.services import periodic_task_headers_strip, sync_after_migrate
        from dashboard.workers import signals as workers_signals  # noqa: F401  (queues sent to, for AMQP)

        # Logout and changes to a user's rights end or re-authorise their open sockets.
        rights.connect()
        pre_save.connect(periodic_task_headers_strip, sender=PeriodicTask, dispatch_uid="dashboard.schedule_headers")
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="dashboard.sync_periodic_tasks")
