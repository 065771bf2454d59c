"""Keep every open moderation queue in step: blog's comment_status_changed -> group "moderation".

The blog sends the signal after commit and knows nothing of the dashboard. Here each change is
rendered once per watched language (the same row partial the page uses) and handed to the non-blocking publisher:
a comment that became held is appended to every queue (with or without the decide buttons, as the
watcher may decide or not), a comment that left the held state is removed from every queue.
"""

from __future__ import annotations

from django.dispatch import receiver
from django.template.loader import render_to_string

from blog.models import Comment
from blog.signals import comment_status_changed
from dashboard.live.contract import MODERATION_GROUP, MODERATION_UPDATE
from dashboard.live.publish import publish_localized
from dashboard.moderation.queue import TEMPLATE, queue_queryset


def moderation_messages(*, comment_ids: list[int], new_status: str) -> list[dict]:
    if new_status == Comment.Status.HELD:
        comments = queue_queryset(status=Comment.Status.HELD).filter(pk__in=comment_ids)
        # Two variants, each rendered once: with the decide buttons for watchers who may decide,
        # read-only for the others (the consumer picks by the permission it checked at connect).
        return [
            {"type": MODERATION_UPDATE, "key": f"comment-{comment.pk}",
             "html": _row_message(comment, new_status, can_decide=False),
             "html_decide": _row_message(comment, new_status, can_decide=True)}
            for comment in comments
        ]
    # One message for a bulk decision: a single frame removes all its rows at once.
    return [{
        "type": MODERATION_UPDATE,
        "key": "removed-" + ",".join(map(str, comment_ids[:5])) + f"-{len(comment_ids)}",
        "html": render_to_string(f"{TEMPLATE}#remove-message", {"comment_ids": comment_ids}),
    }]


def _row_message(comment: Comment, status: str, *, can_decide: bool) -> str:
    return render_to_string(f"{TEMPLATE}#row-message", {"comment": comment, "status": status, "can_decide": can_decide})


@receiver(comment_status_changed, dispatch_uid="dashboard.moderation.live")
def publish_moderation_change(sender, *, comment_ids, previous_status, new_status, moderator_id=None, **kwargs):
    if Comment.Status.HELD not in (previous_status, new_status):
        return  # the live queue shows held comments only
    publish_localized(lambda: [(MODERATION_GROUP, message, ("moderation", message["key"]))
                               for message in moderation_messages(comment_ids=comment_ids, new_status=new_status)])
