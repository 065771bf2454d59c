"""An export: a file a job wrote for one person (a member's own data, a staff CSV), until it expires."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Export(models.Model):
    class Kind(models.TextChoices):
        MEMBER_DATA = "member-data", _("Your data (profile and comments, JSON)")
        TASKS = "tasks", _("Tasks (CSV)")
        MODERATION = "moderation", _("Moderation queue (CSV)")
        COMMENTS = "comments", _("Comments (CSV)")

    class Status(models.TextChoices):
        WRITING = "writing", _("Being written")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    #: What was asked for (the task list's filters, the moderation queue's status, ...).
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WRITING)
    #: In the "default" storage (settings.STORAGES), written whole once the job has finished.
    file = models.FileField(max_length=500, blank=True, default="")
    filename = models.CharField(max_length=200, blank=True, default="")
    rows = models.PositiveBigIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    task_id = models.CharField(max_length=255, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created"], name="export_owner_created_idx"),
            models.Index(fields=["expires_at"], name="export_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} export {self.pk} for {self.owner_id}"
