from django.apps import AppConfig


class SiteConfigConfig(AppConfig):
    """Listed in INSTALLED_APPS only so that the project's deploy checks are registered."""

    name = "site_config"
    verbose_name = "Site configuration"

    def ready(self) -> None:
        from site_config.machinery import checks  # noqa: F401  (registers the deploy checks)
