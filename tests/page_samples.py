"""Representative rows for tests that look at every page (layout, theme): long task names, every task
state, a schedule with history, a daily report, posts with comments in every status, emails."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from celery import states
from django.core.files.base import ContentFile
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from blog.models import OutboundEmail
from blog.services import images
from dashboard.models import ScheduleChange, TaskAction, TaskEvent, TaskLaunch
from dashboard.reports.services import daily_report_build, yesterday
from tests.blog_helpers import make_comment, make_post
from tests.conftest import make_user
from tests.image_helpers import jpeg_bytes

LONG_TASK_NAME = "dashboard.tasks.an_unusually_long_task_name_that_exports_every_comment_of_every_member_task"
LONG_WORD = "Supercalifragilisticexpialidocious_without_any_spaces_at_all_" * 3


@dataclass
class Samples:
    superuser: object
    member: object
    post: object
    held_comment: object
    task_id: str
    schedule: object
    report_day: str
    email: object
    announcement: object
    export: object
    rendition_name: str = ""  # one of the post's image renditions (/media/<name>)


def _task(name: str, status: str, *, launched_by=None, minutes_ago: int = 5, result=None, traceback: str = "") -> str:
    task_id = str(uuid.uuid4())
    now = timezone.now()
    row = TaskResult.objects.create(task_id=task_id, task_name=name, status=status, traceback=traceback,
                                    result=json.dumps(result) if result is not None else None,
                                    date_started=now - timedelta(minutes=minutes_ago, seconds=-2))
    TaskResult.objects.filter(pk=row.pk).update(date_created=now - timedelta(minutes=minutes_ago),
                                                date_done=now - timedelta(minutes=minutes_ago, seconds=-9))
    TaskLaunch.objects.create(task_id=task_id, launched_by=launched_by, queue="celery", args=[LONG_WORD, 3],
                              kwargs={"delay_ms": 250, "note": LONG_WORD}, runtime=7.0)
    return task_id


def seed_every_kind_of_row() -> Samples:
    """Rows behind every page, shaped to stress the layout (long unbroken names and words)."""
    superuser = make_user("alice", staff=True)
    superuser.is_superuser = True
    superuser.save()
    member = make_user("bob")
    post = make_post(superuser, slug="a-post", title="A post whose title is long enough to wrap on a phone " + LONG_WORD)
    # A wide picture with its renditions, made in this process: its <picture> must fit a phone too.
    post.image.save("sample.jpg", ContentFile(jpeg_bytes(2000, 800)), save=False)
    post.image_alt = "A wide picture " + LONG_WORD
    post.save()
    images.post_image_renditions_make(post_id=post.pk)
    rendition_name = post.image_renditions.values_list("name", flat=True).first()
    make_comment(post, member, body="Approved. " + LONG_WORD, status="approved")
    held = make_comment(post, member, body="Held for review. " + LONG_WORD, status="held",
                        reasons=["2 links", "banned word: casino", "repeated text"])
    make_comment(post, member, body="Spam " + LONG_WORD, status="spam")

    failed = _task(LONG_TASK_NAME, states.FAILURE, launched_by=superuser, minutes_ago=3,
                   result={"exc_type": "ValueError", "exc_message": [LONG_WORD]},
                   traceback="Traceback (most recent call last):\n  File \"/srv/" + LONG_WORD + ".py\", line 1\nValueError")
    _task(LONG_TASK_NAME, states.SUCCESS, launched_by=superuser, result={"rows": 1000, "file": LONG_WORD})
    _task("dashboard.tasks.demo_job_task", "PROGRESS", minutes_ago=1,
          result={"current": 4, "total": 10, "message": "step 4 of 10: " + LONG_WORD})
    _task("blog.tasks.email_send_task", states.RETRY, minutes_ago=2, result={"exc_type": "SMTPError", "exc_message": ["down"]})
    _task("dashboard.tasks.daily_report_task", states.PENDING, minutes_ago=0)
    _task("dashboard.tasks.cleanup_task_results_task", states.REVOKED, minutes_ago=8)
    now = timezone.now()
    for kind in ("queued", "received", "started", "retried", "failed"):
        TaskEvent.objects.create(task_id=failed, kind=kind, at=now, detail=f"{kind}: {LONG_WORD}")
    TaskAction.objects.create(batch=uuid.uuid4(), kind="retry", task_id=failed, new_task_id=str(uuid.uuid4()),
                              user=superuser, note=LONG_WORD)

    crontab = CrontabSchedule.objects.create(minute="5", hour="0", day_of_week="*", day_of_month="*", month_of_year="*")
    schedule = PeriodicTask.objects.create(name="a-very-long-schedule-name-for-the-nightly-export-of-everything",
                                           task=LONG_TASK_NAME, crontab=crontab, args=json.dumps([LONG_WORD]),
                                           kwargs=json.dumps({"note": LONG_WORD}))
    TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name=LONG_TASK_NAME, status=states.SUCCESS,
                              periodic_task_name=schedule.name)
    ScheduleChange.objects.create(periodic_task=schedule, periodic_task_name=schedule.name, action="schedule",
                                  summary="schedule: every day at 00:05 → " + LONG_WORD, changed_by=superuser)
    report = daily_report_build(day=yesterday())

    email = OutboundEmail.objects.create(to="bob@example.com", subject="Your comment " + LONG_WORD,
                                         body="Hello\n" + LONG_WORD, kind="comment_approved", status="failed",
                                         attempts=6, last_error="SMTP said no: " + LONG_WORD)
    OutboundEmail.objects.create(to="bob@example.com", subject="Sent one", body="Hi", kind="comment_approved",
                                 status="sent", sent_at=now)

    from blog.models import Announcement
    from dashboard.exports.models import Export

    announcement = Announcement.objects.create(subject="Maintenance tonight " + LONG_WORD, body="Hello\n" + LONG_WORD,
                                               created_by=superuser, recipients_total=12, status="paused")
    export = Export(owner=superuser, kind=Export.Kind.TASKS, status=Export.Status.READY, filename="tasks.csv", rows=1,
                    expires_at=now + timedelta(hours=1), task_id=failed)
    export.file.save("exports/layout-sample.csv", ContentFile(b"id\n1\n"), save=False)
    export.save()
    return Samples(superuser=superuser, member=member, post=post, held_comment=held, task_id=failed,
                   schedule=schedule, report_day=report.day.isoformat(), email=email, announcement=announcement,
                   export=export, rendition_name=rendition_name)
