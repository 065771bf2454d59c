"""Celery tasks of the blog: thin wrappers that take primary keys and call blog.services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from blog.services import comments, images, members, outbox

logger = logging.getLogger(__name__)


@shared_task(bind=True)
def email_send_task(self, email_id: int) -> str:
    """Send one outbox row. Idempotent: a second run finds the row claimed or sent and skips it. A
    failed attempt plans the next one in the row (the sweep sends it then): no retry waits here."""
    return outbox.email_send(email_id=email_id)


@shared_task
def email_sweep_task() -> int:
    """Re-queue emails left unsent (periodic, see PERIODIC_TASKS["requeue-unsent-emails"])."""
    return outbox.email_sweep()


@shared_task
def moderate_comment_task(comment_id: int) -> str | None:
    """Score a new comment and approve, hold or mark it spam. Safe to run twice: only a pending
    comment is changed."""
    return comments.comment_moderate_automatically(comment_id=comment_id)


@shared_task
def pending_comments_requeue_task() -> int:
    """Moderate again the comments still pending (periodic, see PERIODIC_TASKS["moderate-pending-comments"])."""
    return comments.comments_pending_requeue(older_than_seconds=settings.COMMENT_PENDING_REQUEUE_SECONDS)


@shared_task
def purge_unverified_members_task(older_than_days: int | None = None) -> int:
    """Delete members who never verified (periodic, see PERIODIC_TASKS["purge-unverified-members"])."""
    removed = members.member_purge_unverified(older_than_days=older_than_days)
    logger.info("purge_unverified_members_task removed %s member(s)", removed)
    return removed


@shared_task(bind=True)
def post_image_renditions_task(self, post_id: int) -> dict:
    """Make the web sizes of a post's image, reporting each output ("960w webp"). A file that cannot
    become an image ends FAILURE with the reason (also shown on the post to staff); cancelled, it
    leaves no partial set behind and ends as cancelled. Safe to run again: it replaces the last set."""
    try:
        return images.post_image_renditions_make(post_id=post_id, task_id=self.request.id or "",
                                                 progress=self.report_progress)
    except self.Cancelled:
        # The service has removed what it wrote; the post says it was cancelled.
        images.post_image_cancelled(post_id=post_id, task_id=self.request.id or "")
        raise
