"""The moderation queue's query and the fragments its page and socket share."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from blog.models import Comment

TEMPLATE = "dashboard/moderation/queue.html"



QUEUE_STATUSES = [
    (Comment.Status.HELD, _("Held")),
    (Comment.Status.PENDING, _("Pending (not scored yet)")),
    (Comment.Status.SPAM, _("Spam")),
    (Comment.Status.APPROVED, _("Approved")),
    (Comment.Status.REJECTED, _("Rejected")),
]



LIVE_STATUS = Comment.Status.HELD



def comments_matching(*, status: str | None, post_id: int | None = None):
    """The comments the queue's filters select (status None: every status). The queue's page and
    socket, and the moderation and comments exports (dashboard/exports/services.py), all ask here, so
    a file holds what the page listed."""
    qs = Comment.objects.all()
    if status:
        qs = qs.filter(status=status)
    if post_id:
        qs = qs.filter(post_id=post_id)
    return qs


def queue_queryset(*, status: str = LIVE_STATUS, post_id: int | None = None):
    """Comments of one status, oldest first, with what a row shows (constant query count)."""
    return (
        comments_matching(status=status, post_id=post_id)
        .select_related("post", "author", "moderated_by")
        .only("id", "body", "status", "score", "reasons", "created_at", "moderated_at",
              "post__id", "post__title", "post__slug", "author__id", "author__username",
              "moderated_by__id", "moderated_by__username")
        .order_by("created_at", "id")
    )



def render_rows_snapshot(*, can_decide: bool) -> str:
    """The held queue's first page as the rows partial (websocket snapshot); the decide buttons only
    for a watcher who may decide."""
    comments = queue_queryset()[: settings.MODERATION_QUEUE_PER_PAGE]
    return render_to_string(f"{TEMPLATE}#rows",
                            {"comments": comments, "status": LIVE_STATUS, "live": True, "can_decide": can_decide})

