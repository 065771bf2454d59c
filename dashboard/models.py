"""Dashboard models: who launched each Celery task (and, imported from its room, the exports).

Task state itself lives in django-celery-results' TaskResult (one row per task id); this table adds
what Celery does not know: the user who started the task, so a member sees only their own tasks.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TaskLaunch(models.Model):
    """How a task was queued: by whom, to which queue, with which arguments, as part of what.

    Written for every task when it is published (dashboard.live.signals); the real args/kwargs are
    kept as JSON so that a dashboard retry sends exactly the same call (TaskResult keeps only reprs).
    """

    task_id = models.CharField(max_length=255, unique=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="task_launches"
    )
    #: The instant its TaskResult row was created (`date_created`, set to the same value by
    #: dashboard.live.store), so that the task list, filtered by who or which queue, can walk this
    #: table's (launched_by | queue, created_at) indexes in the list's "received" order.
    created_at = models.DateTimeField(default=timezone.now)
    queue = models.CharField(max_length=200, blank=True, default="")
    args = models.JSONField(null=True, blank=True)
    kwargs = models.JSONField(null=True, blank=True)
    # NULL when absent (almost every task), indexed by partial indexes over the non-NULL rows only:
    # after ANALYZE, SQLite's statistics make a plain index on a mostly-empty column look useless
    # and the planner scans the table instead.
    parent_id = models.CharField(max_length=255, null=True, blank=True)
    root_id = models.CharField(max_length=255, null=True, blank=True)
    group_id = models.CharField(max_length=255, null=True, blank=True)
    retry_of = models.CharField(max_length=255, null=True, blank=True)
    #: Seconds from start to finish, set when the task finishes (TaskResult has no such column to
    #: sort by; the task list's runtime sort walks this index).
    runtime = models.FloatField(null=True, blank=True)
    #: The result of the task once it has ended (SUCCESS, FAILURE or REVOKED), copied by a database
    #: trigger on the task table (migration 0023), whichever path stored it, for the free-text
    #: search: on PostgreSQL a trigram index finds it. The task row's own result column has no such
    #: index: progress reports are written there, and an index on it makes every report rewrite the
    #: row and all its indexes (docs/benchmarks.md).
    finished_result = models.TextField(null=True, blank=True)
    #: When the task was asked to run no earlier than / discarded after (the message's headers), and
    #: how many times Celery has retried it (its own retry re-publishes the same id): the task list's
    #: optional columns. db_default so that rows inserted by raw SQL (bench/) need not name it.
    eta = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    retries = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        indexes = [
            models.Index(fields=["launched_by", "-created_at"], name="launch_user_created_idx"),
            models.Index(fields=["queue", "-created_at"], name="launch_queue_created_idx"),
            models.Index(fields=["parent_id"], condition=models.Q(parent_id__isnull=False), name="launch_parent_idx"),
            models.Index(fields=["retry_of"], condition=models.Q(retry_of__isnull=False), name="launch_retry_of_idx"),
            models.Index(fields=["-runtime", "-id"], condition=models.Q(runtime__isnull=False),
                         name="launch_runtime_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} by {self.launched_by_id or 'system'}"


class TaskListPreference(models.Model):
    """How one person likes the task list: which optional columns it shows and how many rows a page
    has. A row, not the session, so the choice survives logging out and follows them to any browser."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="task_list_preference")
    columns = models.JSONField(default=list, blank=True)
    page_size = models.PositiveSmallIntegerField(default=25)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"task list of {self.user_id}: {' '.join(self.columns) or 'default columns'}, {self.page_size} rows"


class TaskEvent(models.Model):
    """One step of a task's timeline: queued, received, started, retry, succeeded, failed, revoked."""

    task_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=20)
    at = models.DateTimeField()
    detail = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["task_id", "at"], name="taskevent_task_at_idx")]
        ordering = ["at", "id"]


class TaskAction(models.Model):
    """Audit of what a person did to a task from the dashboard (retry, revoke, terminate).

    A bulk action writes one row per task, sharing `batch`.
    """

    class Kind(models.TextChoices):
        RETRY = "retry", _("Retry")
        REVOKE = "revoke", _("Revoke")
        TERMINATE = "terminate", _("Terminate")
        PURGE = "purge", _("Purged from its queue")
        CANCEL = "cancel", _("Cancel")

    batch = models.UUIDField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    task_id = models.CharField(max_length=255, db_index=True)
    new_task_id = models.CharField(max_length=255, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("act_on_tasks", "Can retry, revoke and terminate tasks from the dashboard")]


class NamedPermission(models.Model):
    """No table: it holds the named permissions of dashboard actions that change rows of other apps
    (a moderation decision changes a blog comment, a re-send an outbox email, the demo job queues a
    task, an announcement writes to every member). Django attaches permissions to a model; this one exists for that alone. Grant them in the
    admin, to a user or a group; dashboard.permissions checks them.
    """

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "named permission"
        permissions = [
            ("decide_comments", "Can decide comments (approve, reject, mark as spam)"),
            ("resend_email", "Can send failed emails again"),
            ("start_demo_job", "Can start the demo job"),
            ("purge_queue", "Can purge a queue (its waiting tasks are revoked)"),
            ("export_data", "Can export tasks, the moderation queue and comments as CSV"),
            ("send_announcement", "Can send announcements to all members"),
        ]


class QueuePurge(models.Model):
    """Audit of a queue purge from the workers page: who, when, which queue, how many messages.

    Each purged task also has a TaskAction (kind "purge") sharing `batch`, shown on its page.
    """

    batch = models.UUIDField(unique=True)
    queue = models.CharField(max_length=200)
    broker = models.CharField(max_length=20, blank=True, default="")
    purged_count = models.PositiveIntegerField()
    #: The count the confirmation page showed (more may have arrived, or been consumed, since).
    confirmed_count = models.PositiveIntegerField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.queue}: {self.purged_count} purged by {self.user_id or 'a deleted user'}"


class DailyReport(models.Model):
    """One day's figures, written by the daily report job (re-running it for a day updates the row).

    The headline counts are columns so the 30-day chart and the list read them without parsing;
    the breakdowns (comments by outcome, tasks per state with runtimes, top failing task names) are
    kept whole in `details`.
    """

    day = models.DateField(unique=True)
    new_members = models.PositiveIntegerField(default=0)
    verified_members = models.PositiveIntegerField(default=0)
    comments_total = models.PositiveIntegerField(default=0)
    posts_published = models.PositiveIntegerField(default=0)
    emails_sent = models.PositiveIntegerField(default=0)
    emails_failed = models.PositiveIntegerField(default=0)
    tasks_total = models.PositiveIntegerField(default=0)
    tasks_failed = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"Report for {self.day:%Y-%m-%d}"


class ScheduleChange(models.Model):
    """Audit trail of every change made to a periodic task from the dashboard (who, when, what)."""

    class Action(models.TextChoices):
        ENABLED = "enabled", _("enabled")
        DISABLED = "disabled", _("disabled")
        SCHEDULE = "schedule", _("changed schedule")
        RUN_NOW = "run_now", _("ran now")
        CREATED = "created", _("created")
        DUPLICATED = "duplicated", _("duplicated")
        DELETED = "deleted", _("deleted")

    # The name is kept as text as well, so the trail outlives a deleted periodic task.
    periodic_task = models.ForeignKey(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    periodic_task_name = models.CharField(max_length=200)
    action = models.CharField(max_length=20, choices=Action.choices)
    summary = models.TextField(blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.periodic_task_name}: {self.get_action_display()} by {self.changed_by_id or 'system'}"


class ApiToken(models.Model):
    """A user's named key for the JSON API (/api/). Only a digest of the token is stored.

    The token is `ldt_<prefix>_<secret>`: the prefix finds the row (and is shown on the tokens page
    so the owner can tell tokens apart); the SHA-256 of the whole token is compared in constant time.
    A fast hash is right here, unlike for passwords: the secret is 256 random bits, so there is
    nothing to guess, and a slow hash would cost every API request tens of milliseconds.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # The owner's session auth hash when the token was made (an HMAC of the password hash, as
    # Django's sessions keep): a password changed by any path ends the token, as it ends sessions.
    password_stamp = models.CharField(max_length=128, default="", editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired and self.password_current

    @property
    def is_expired(self) -> bool:
        from django.utils import timezone

        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def password_current(self) -> bool:
        """Whether the owner's password is the one they had when the token was made (checked with
        the secret key and its fallbacks, as Django checks a session)."""
        import hmac

        user = self.user
        candidates = [user.get_session_auth_hash()] + [
            user._get_session_auth_hash(secret=secret) for secret in settings.SECRET_KEY_FALLBACKS]
        return any(hmac.compare_digest(self.password_stamp, candidate) for candidate in candidates)


class ControlAction(models.Model):
    """Audit of what a person told Celery from the workers page: a worker control command (pool
    grow/shrink, autoscale, consumers, rate and time limits, shutdown, pool restart) or a task run.

    `destination` is the hostnames asked; `replies` what each answered ({hostname: {"ok"|"error": ...}}),
    or, for a run, the new task's id.
    """

    class Kind(models.TextChoices):
        POOL_GROW = "pool_grow", _("grow the pool")
        POOL_SHRINK = "pool_shrink", _("shrink the pool")
        AUTOSCALE = "autoscale", _("change autoscale")
        ADD_CONSUMER = "add_consumer", _("consume from a queue")
        CANCEL_CONSUMER = "cancel_consumer", _("stop consuming from a queue")
        RATE_LIMIT = "rate_limit", _("set a rate limit")
        TIME_LIMIT = "time_limit", _("set time limits")
        SHUTDOWN = "shutdown", _("shut down")
        POOL_RESTART = "pool_restart", _("restart the pool")
        RUN_TASK = "run_task", _("run a task")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    arguments = models.JSONField(default=dict, blank=True)
    destination = models.JSONField(default=list, blank=True)
    replies = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        permissions = [
            ("resize_worker_pool", "Can grow and shrink a worker's pool"),
            ("autoscale_workers", "Can change a worker's autoscale range"),
            ("change_worker_queues", "Can make a worker consume from a queue or stop consuming"),
            ("set_task_rate_limit", "Can set a task's rate limit on the workers"),
            ("set_task_time_limit", "Can set a task's soft and hard time limits on the workers"),
            ("shut_down_workers", "Can shut down workers"),
            ("restart_worker_pool", "Can restart a worker's pool"),
            ("run_task", "Can run any registered task with chosen arguments"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.user_id or 'system'}"


from dashboard.exports.models import Export  # noqa: E402,F401  (the exports room's model, in this app)
