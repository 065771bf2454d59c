"""Filling a database with demo content, once: `demo_content_create()`.

Idempotent: every piece is found by a natural key first (a member's username, a post's slug, a
comment's post, author and text, a task's fixed id, a report's day) and only what is missing is
created; what exists is never changed. Running it again creates nothing, so `make run` and the tests
may call it on any database.

Nothing here needs Redis or a worker: comments get their moderation state the way the automatic
pass and a moderator would leave them (scored by blog.moderation, with the audit rows), and the two
demo tasks are run in this process and recorded through the same store a worker writes to.
"""

from __future__ import annotations

import socket
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from celery import states
from celery.app.task import Context
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from blog import moderation
from blog.models import Comment, ModerationDecision, Post, Profile
from blog.services import images
from dashboard.demo import content
from dashboard.demo.pictures import demo_picture
from dashboard.live.store import load_view, record_event, record_queued, record_runtime
from dashboard.models import DailyReport
from dashboard.reports.services import daily_report_build

#: The demo tasks' ids are fixed, so a second run finds them (uuid5: stable, and shaped like Celery's).
_TASK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://live-django.invalid/demo-content")
SUCCEEDED_TASK_ID = str(uuid.uuid5(_TASK_NAMESPACE, "succeeded"))
FAILED_TASK_ID = str(uuid.uuid5(_TASK_NAMESPACE, "failed"))

#: The demo job's arguments (steps, delay_ms[, fail_at_step]): about a second of real work each.
SUCCEEDED_TASK_ARGS = [5, 150]
FAILED_TASK_ARGS = [5, 150, 3]


@dataclass
class DemoSummary:
    """What one run created (all zeros: the content was there already)."""

    members: int = 0
    posts: int = 0
    comments: int = 0
    tasks: int = 0
    reports: int = 0
    created: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.members or self.posts or self.comments or self.tasks or self.reports)

    def __str__(self) -> str:
        if not self.anything:
            return "Demo content: already there, nothing created."
        return (f"Demo content: created {self.members} members, {self.posts} posts, {self.comments} comments, "
                f"{self.tasks} tasks, {self.reports} daily reports.")


def demo_content_create(*, now: datetime | None = None) -> DemoSummary:
    """Create whatever demo content is missing; returns what was created."""
    now = now or timezone.now()
    summary = DemoSummary()
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("-is_superuser", "pk").first()
    with transaction.atomic():
        members = {spec.username: _member_get_or_create(spec=spec, now=now, summary=summary)
                   for spec in content.MEMBERS}
        posts = {spec.slug: demo_post_create(spec=spec, author=members[spec.author], now=now, summary=summary)
                 for spec in content.POSTS}
        for spec in content.COMMENTS:
            _comment_get_or_create(spec=spec, post=posts[spec.post], author=members[spec.author], moderator=staff,
                                   now=now, summary=summary)
    # The tasks run for about a second each: outside the transaction above, which holds SQLite's
    # write lock.
    _demo_task_record(task_id=SUCCEEDED_TASK_ID, args=SUCCEEDED_TASK_ARGS, launched_by=staff, summary=summary)
    _demo_task_record(task_id=FAILED_TASK_ID, args=FAILED_TASK_ARGS, launched_by=staff, summary=summary)
    for day in demo_report_days():
        if not DailyReport.objects.filter(day=day).exists():
            daily_report_build(day=day)
            summary.reports += 1
    return summary


def _member_get_or_create(*, spec: content.DemoMember, now: datetime, summary: DemoSummary):
    User = get_user_model()
    user = User.objects.filter(username=spec.username).first()
    if user is not None:
        return user
    joined = now - spec.joined_ago
    # No password: log in as a demo member after setting one in the admin (/admin/auth/user/).
    user = User.objects.create_user(username=spec.username, email=spec.email, password=None)
    User.objects.filter(pk=user.pk).update(date_joined=joined)
    user.date_joined = joined
    Profile.objects.update_or_create(user=user, defaults={"email_verified_at": joined + timedelta(minutes=20)})
    summary.members += 1
    return user


def demo_post_create(*, spec: content.DemoPost, author, now: datetime, summary: DemoSummary) -> Post:
    """The demo post `spec`, published by `author`: found by its slug, or created."""
    post = Post.objects.filter(slug=spec.slug).first()
    if post is not None:
        return post
    published = now - spec.published_ago
    post = Post.objects.create(title=spec.title, slug=spec.slug, body=spec.body, author=author,
                               status=Post.Status.PUBLISHED, published_at=published)
    Post.objects.filter(pk=post.pk).update(created_at=published - timedelta(hours=1))
    _demo_picture_attach(post=post, number=content.POSTS.index(spec))
    summary.posts += 1
    return post


def _demo_picture_attach(*, post: Post, number: int) -> None:
    """A drawn picture as the new post's image, its web sizes made here by the same service the
    renditions task calls (no worker needed), so a fresh `make run` shows them at once."""
    data = demo_picture(number)
    info = images.image_inspect(file=ContentFile(data))
    post.image.save(images.original_name(info), ContentFile(data), save=False)
    post.image_alt = "A drawn landscape: hills under a sky with a low sun"
    post.save(update_fields=["image", "image_alt"])
    images.post_image_renditions_make(post_id=post.pk)


def _comment_get_or_create(*, spec: content.DemoComment, post: Post, author, moderator, now: datetime,
                           summary: DemoSummary) -> Comment:
    """A comment left in `spec.status`, with the score and audit rows the site itself would write.

    The automatic pass (blog.moderation) scores it from its text and its author's age; pending stays
    unscored (the worker's `moderate-pending-comments` sweep will score it after a few minutes of
    `make run`, as it would any comment whose moderation message was lost); rejected is a held
    comment a moderator rejected."""
    comment = Comment.objects.filter(post=post, author=author, body=spec.body).first()
    if comment is not None:
        return comment
    written = now - spec.written_ago
    comment = Comment.objects.create(post=post, author=author, body=spec.body, status=spec.status)
    fields: dict = {"created_at": written}
    if spec.status != Comment.Status.PENDING:
        score = moderation.score_comment(spec.body, account_age=written - author.date_joined)
        automatic = Comment.Status.HELD if spec.status == Comment.Status.REJECTED else spec.status
        decided = written + timedelta(seconds=2)
        _decision_record(comment=comment, moderator=None, previous=Comment.Status.PENDING, new=automatic, at=decided)
        if spec.status == Comment.Status.REJECTED:
            decided = written + timedelta(hours=3)
            _decision_record(comment=comment, moderator=moderator, previous=automatic, new=spec.status, at=decided)
            fields["moderated_by"] = moderator
        fields.update(score=score.points, reasons=score.reasons, moderated_at=decided)
    # created_at is auto_now_add: moved to the demo's time after the insert.
    Comment.objects.filter(pk=comment.pk).update(**fields)
    summary.comments += 1
    return comment


def _decision_record(*, comment: Comment, moderator, previous: str, new: str, at: datetime) -> None:
    decision = ModerationDecision.objects.create(comment=comment, moderator=moderator, previous_status=previous,
                                                 new_status=new)
    ModerationDecision.objects.filter(pk=decision.pk).update(created_at=at)  # auto_now_add, as above


def _demo_task_record(*, task_id: str, args: list, launched_by, summary: DemoSummary) -> None:
    """Run the demo job here, once, and record it as a worker would: queued, received, started,
    then succeeded or failed (with the real exception and traceback), its runtime, its timeline."""
    if TaskResult.objects.filter(task_id=task_id).exists():
        return
    from dashboard.tasks import demo_job_task

    where = f"demo_content@{socket.gethostname()}"
    argsrepr = repr(tuple(args))
    record_queued(task_id=task_id, task_name=demo_job_task.name, argsrepr=argsrepr, kwargsrepr="{}",
                  periodic_task_name=None, launched_by=getattr(launched_by, "pk", None), queue="celery",
                  args=args, kwargs={})
    record_event(task_id, "received", "by manage.py demo_content (not a worker)")
    request = Context(id=task_id, task=demo_job_task.name, argsrepr=argsrepr, kwargsrepr="{}", hostname=where,
                      children=[])
    backend = demo_job_task.backend
    backend.store_result(task_id, None, states.STARTED, request=request)
    record_event(task_id, "started", f"on {where}")
    try:
        outcome = demo_job_task.run(*args)
    except Exception as error:  # the failing demo job raises DemoJobError on purpose
        backend.store_result(task_id, error, states.FAILURE, traceback=traceback.format_exc(), request=request)
        record_event(task_id, "failed", f"{type(error).__name__}: {error}")
    else:
        backend.store_result(task_id, outcome, states.SUCCESS, request=request)
        record_event(task_id, "succeeded")
    view = load_view(task_id)
    if view is not None and view.runtime is not None:
        record_runtime(task_id, view.runtime)
    summary.tasks += 1


def demo_report_days() -> list[date]:
    """Every full day the demo content spans: from the first member's joining to the day before the
    newest comment. Read from the stored content, so every run (on any later day) names the same days."""
    members = get_user_model().objects.filter(username__in=[m.username for m in content.MEMBERS])
    first = members.order_by("date_joined").values_list("date_joined", flat=True).first()
    last = (Comment.objects.filter(post__slug__in=[p.slug for p in content.POSTS])
            .order_by("-created_at").values_list("created_at", flat=True).first())
    if first is None or last is None:
        return []
    start, end = timezone.localdate(first), timezone.localdate(last)
    return [start + timedelta(days=offset) for offset in range((end - start).days)]
