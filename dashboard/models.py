"""Dashboard models: who launched each Celery task.

Task state itself lives in django-celery-results' TaskResult (one row per task id); this table adds
what Celery does not know: the user who started the task, so a member sees only their own tasks.
"""

from django.conf import settings
from django.db import models


class TaskLaunch(models.Model):
    task_id = models.CharField(max_length=255, unique=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="task_launches"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["launched_by", "-created_at"], name="launch_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.task_id} by {self.launched_by_id or 'system'}"
