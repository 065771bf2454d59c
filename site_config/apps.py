from django.apps import AppConfig


class SiteConfigConfig(AppConfig):
    """Listed in INSTALLED_APPS so that the project's deploy checks and the request id's Celery hooks are registered."""

    name = "site_config"
    verbose_name = "Site configuration"

    def ready(self) -> None:
        from site_config.machinery import (
            checks,  # noqa: F401  (registers the deploy checks)
            request_context,  # noqa: F401  (carries the request id into tasks)
        )
