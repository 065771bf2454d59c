"""What the API returns and accepts. The OpenAPI description is generated from these classes."""

from __future__ import annotations

from rest_framework import serializers

from dashboard.monitor.filters import SEARCH_HELP, SORTS, STATE_CHOICES
from site_config.machinery.stored_texts import shown

SIGNALS = ["SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1"]


class ShownTextField(serializers.CharField):
    """A text the site stores as an identifier with parameters, in words in the request's language."""

    def to_representation(self, value) -> str:
        return shown(value)


class TaskSerializer(serializers.Serializer):
    """One task, as its live page shows it (TaskView)."""

    id = serializers.CharField(source="task_id")
    name = serializers.CharField(help_text="The task's Python name.")
    title = serializers.CharField(help_text="What people call the task, in the request's language (else its name).")
    state = serializers.CharField(help_text="PENDING, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE or REVOKED.")
    label = serializers.CharField(help_text="The state in words, as the pages say it.")
    final = serializers.BooleanField(source="is_final", help_text="True once the task will not change again.")
    current = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    message = serializers.CharField(allow_blank=True, help_text="The latest progress message.")
    result = serializers.CharField(allow_blank=True, help_text="The return value as JSON text (SUCCESS).")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed or was revoked.")
    launched_by = serializers.CharField(allow_blank=True)
    created = serializers.DateTimeField(allow_null=True)
    started = serializers.DateTimeField(allow_null=True)
    done = serializers.DateTimeField(allow_null=True)
    runtime = serializers.FloatField(allow_null=True, help_text="Seconds from start to finish.")
    url = serializers.SerializerMethodField(help_text="The task's live page.")

    def get_url(self, view) -> str:
        from django.urls import reverse

        return reverse("dashboard:task_detail", kwargs={"task_id": view.task_id})


class TaskEventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    at = serializers.DateTimeField()
    detail = ShownTextField(allow_blank=True)


class TaskActionSerializer(serializers.Serializer):
    kind = serializers.CharField()
    by = serializers.CharField(source="user.get_username", default="")
    at = serializers.DateTimeField(source="created_at")
    new_task_id = serializers.CharField(allow_blank=True)
    note = ShownTextField(allow_blank=True)


class TaskDetailSerializer(TaskSerializer):
    traceback = serializers.CharField(allow_blank=True, help_text="Staff only; empty for members.")
    args = serializers.JSONField(allow_null=True, help_text="Staff only.")
    kwargs = serializers.JSONField(allow_null=True, help_text="Staff only.")
    queue = serializers.CharField(allow_blank=True)
    timeline = TaskEventSerializer(many=True)
    actions = TaskActionSerializer(many=True, help_text="Who retried, revoked or cancelled it (staff only).")


class TaskPageSerializer(serializers.Serializer):
    results = TaskSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page.")
    previous_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the page before; "
                                            "None on the first page.")


class TaskListQuerySerializer(serializers.Serializer):
    """The task page's filters (documented here; validated by the page's own form)."""

    state = serializers.ChoiceField(choices=[value for value, _ in STATE_CHOICES if value], required=False)
    name = serializers.CharField(required=False)
    worker = serializers.CharField(required=False)
    queue = serializers.CharField(required=False)
    launched_by = serializers.CharField(required=False, help_text="A username.")
    periodic = serializers.CharField(required=False, help_text="A schedule's name.")
    date_from = serializers.DateTimeField(required=False)
    date_to = serializers.DateTimeField(required=False)
    q = serializers.CharField(required=False, help_text=SEARCH_HELP)
    sort = serializers.ChoiceField(choices=list(SORTS), required=False)
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False, help_text="Default: each sort's usual order.")
    cursor = serializers.CharField(required=False, help_text="`next_cursor` from the previous page.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=25)


class NewTaskSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    url = serializers.CharField()


class DemoJobSerializer(serializers.Serializer):
    steps = serializers.IntegerField(min_value=1, help_text="How many steps (progress reports); at most DEMO_JOB_MAX_STEPS.")
    delay_ms = serializers.IntegerField(min_value=0, help_text="Milliseconds per step; at most DEMO_JOB_MAX_DELAY_MS, "
                                        "and the whole job under the broker's visibility timeout.")
    fail_at_step = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            help_text="Fail on purpose at this step.")


class RunTaskSerializer(serializers.Serializer):
    task = serializers.CharField(help_text="A registered task's name, e.g. dashboard.tasks.demo_job_task.")
    args = serializers.ListField(required=False, default=list, help_text="Positional arguments (JSON values).")
    kwargs = serializers.DictField(required=False, default=dict, help_text="Keyword arguments.")
    queue = serializers.CharField(required=False, allow_blank=True, default="", help_text="Empty: the task's usual queue.")
    eta = serializers.DateTimeField(required=False, allow_null=True, help_text="Run at this time (ISO 8601).")
    countdown = serializers.FloatField(required=False, allow_null=True, min_value=0, help_text="Or after this many seconds.")


class RevokeSerializer(serializers.Serializer):
    terminate = serializers.BooleanField(default=False, help_text="Stop it if it is running (else only queued tasks).")
    signal = serializers.ChoiceField(choices=SIGNALS, default="SIGTERM", help_text="With terminate: the signal sent.")


class OkSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class WorkerSerializer(serializers.Serializer):
    hostname = serializers.CharField()
    online = serializers.BooleanField()
    pool = serializers.CharField(allow_null=True, required=False)
    concurrency = serializers.IntegerField(allow_null=True, required=False)
    processed = serializers.IntegerField(allow_null=True, required=False)
    uptime = serializers.IntegerField(allow_null=True, required=False, help_text="Seconds.")
    loadavg = serializers.ListField(child=serializers.FloatField(), allow_null=True, required=False)
    prefetch_count = serializers.IntegerField(allow_null=True, required=False)
    last_seen = serializers.DateTimeField(allow_null=True, required=False)
    queues = serializers.ListField(child=serializers.CharField(), required=False)
    active = serializers.ListField(child=serializers.DictField(), required=False, help_text="Tasks running now.")


class QueueSerializer(serializers.Serializer):
    name = serializers.CharField()
    length = serializers.IntegerField()
    consumers = serializers.ListField(child=serializers.CharField())


class ScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="periodic_task.pk")
    name = serializers.CharField(source="periodic_task.name")
    task = serializers.CharField(source="periodic_task.task")
    enabled = serializers.BooleanField(source="periodic_task.enabled")
    schedule = serializers.CharField(source="schedule_words")
    next_run = serializers.DateTimeField(allow_null=True)
    run_count = serializers.IntegerField()
    last_run = TaskSerializer(allow_null=True)


class ReportSerializer(serializers.Serializer):
    day = serializers.DateField()
    new_members = serializers.IntegerField()
    verified_members = serializers.IntegerField()
    comments_total = serializers.IntegerField()
    posts_published = serializers.IntegerField()
    emails_sent = serializers.IntegerField()
    emails_failed = serializers.IntegerField()
    tasks_total = serializers.IntegerField()
    tasks_failed = serializers.IntegerField()
    details = serializers.JSONField()
    updated_at = serializers.DateTimeField()
