"""Celery tasks of the blog: thin wrappers that take primary keys and call blog.services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from blog.services import announcements, comments, images, members, outbox
from site_config.machinery.stored_texts import stored_text

logger = logging.getLogger(__name__)


@shared_task(bind=True, title=_("Sending an email"))
def email_send_task(self, email_id: int) -> str:
    """Send one outbox row. Idempotent: a second run finds the row claimed or sent and skips it. A
    failed attempt plans the next one in the row (the sweep sends it then): no retry waits here."""
    return outbox.email_send(email_id=email_id)


@shared_task(bind=True, title=_("Sending emails"))
def email_batch_send_task(self, email_ids: list[int]) -> dict:
    """Send a batch of outbox rows over one connection (bulk notifications, the sweep). Idempotent
    like email_send_task: each row is claimed before it is sent."""
    def progress(done: int, total: int) -> None:
        self.report_progress(done, total, stored_text("emails.sent", done=done, total=total))

    return outbox.emails_send(email_ids=email_ids, on_progress=progress)


# Late acknowledgement: a worker lost mid-batch puts the message back; the batch number makes the
# second run harmless (see blog.services.announcements).
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, title=_("Announcement to members"))
def announcement_batch_task(self, announcement_id: int, batch_number: int) -> dict:
    """Hand one batch of members to the outbox and send it, then queue the next batch."""
    def progress(done: int, total: int) -> None:
        self.report_progress(done, total, stored_text("announcement.batch", batch=batch_number, done=done, total=total))

    result = announcements.announcement_batch_send(
        announcement_id=announcement_id, batch_number=batch_number, on_progress=progress
    )
    if result.more and announcements.announcement_is_sending(announcement_id=announcement_id):
        announcement_batch_task.delay(announcement_id, batch_number + 1)
    return {"batch": batch_number, "outcome": result.outcome, "members": result.members, "emails": result.emails}


@shared_task(title=_("Re-sending unsent emails"))
def email_sweep_task() -> int:
    """Re-queue emails left unsent (periodic, see PERIODIC_TASKS["requeue-unsent-emails"])."""
    return outbox.email_sweep()


@shared_task(title=_("Comment moderation"), launch_arguments={"comment_id": {"type": "int", "min": 1}})
def moderate_comment_task(comment_id: int) -> str | None:
    """Score a new comment and approve, hold or mark it spam. Safe to run twice: only a pending
    comment is changed."""
    return comments.comment_moderate_automatically(comment_id=comment_id)


@shared_task(title=_("Moderating waiting comments"))
def pending_comments_requeue_task() -> int:
    """Moderate again the comments still pending (periodic, see PERIODIC_TASKS["moderate-pending-comments"])."""
    return comments.comments_pending_requeue(older_than_seconds=settings.COMMENT_PENDING_REQUEUE_SECONDS)


# Never members who signed up less than a day ago (the setting's own minimum).
@shared_task(title=_("Removal of unverified members"),
             launch_arguments={"older_than_days": {"type": "int", "min": 1, "max": 3650, "null": True}})
def purge_unverified_members_task(older_than_days: int | None = None) -> int:
    """Delete members who never verified (periodic, see PERIODIC_TASKS["purge-unverified-members"])."""
    if older_than_days is not None and older_than_days < 1:  # a schedule stored before its arguments were checked
        raise ValueError(f"older_than_days must be at least 1, not {older_than_days}.")
    removed = members.member_purge_unverified(older_than_days=older_than_days)
    logger.info("purge_unverified_members_task removed %s member(s)", removed)
    return removed


# Late acknowledgement: a worker stopped or lost mid-way hands the message back; a second run makes a
# fresh set and replaces the last one (blog.services.images.post_image_renditions_make).
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, launch_arguments={"post_id": {"type": "int", "min": 1}},
             title=_("Post image sizes"))
def post_image_renditions_task(self, post_id: int) -> dict:
    """Make the web sizes of a post's image, reporting each output ("960w webp"). A file that cannot
    become an image ends FAILURE with the reason (also shown on the post to staff); cancelled, it
    leaves no partial set behind and ends as cancelled. Safe to run again: it replaces the last set."""
    try:
        return images.post_image_renditions_make(post_id=post_id, task_id=self.request.id or "",
                                                 progress=self.report_progress)
    except self.Cancelled as cancelled:
        # The service has removed what it wrote; the post says who cancelled it.
        images.post_image_cancelled(post_id=post_id, task_id=self.request.id or "", by=cancelled.cancelled_by)
        raise
