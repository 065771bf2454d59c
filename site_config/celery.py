"""The Celery app.

Settings come from Django's settings under the CELERY_ namespace (JSON only). Every task in every
app gets the live-progress base class through `task_cls`, so an app reports progress and has its
state changes pushed to the browser without importing the dashboard.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

app = Celery("site_config", task_cls="dashboard.live.base_task:LiveTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
