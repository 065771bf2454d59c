"""django-celery-results' task result admin, registered again: a task's arguments can hold what
the person who launched it typed, so the list neither filters nor searches on them (see
site_config/machinery/admin_lookups.py); it stays the package's read-only record otherwise."""

from __future__ import annotations

from django.contrib import admin
from django_celery_results.admin import TaskResultAdmin
from django_celery_results.models import TaskResult

from site_config.machinery.admin_lookups import AllowListedLookups


class AllowListedTaskResultAdmin(AllowListedLookups, TaskResultAdmin):
    search_fields = ("task_name", "task_id", "status", "periodic_task_name", "worker")


admin.site.unregister(TaskResult)
admin.site.register(TaskResult, AllowListedTaskResultAdmin)
