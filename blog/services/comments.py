"""Comments and their moderation: creating a comment (verified members, rate limit, double
submits), scoring it automatically, and staff decisions one by one or in bulk.

Every status change goes through one conditional transition, so two moderators (or a moderator
and the automatic pass) can never both change the same comment, and every change leaves an audit
row, notifies the post author on approval and tells live pages after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from blog import moderation
from blog.models import Comment, ModerationDecision, Post
from blog.services import members, outbox
from blog.signals import comment_status_changed
from site_config.machinery.rate_limit import Counter, Unavailable, rate_take

logger = logging.getLogger(__name__)

DECIDABLE_STATUSES = {"approved", "rejected", "spam", "held"}


class CommentNotAllowed(Exception):
    """The author may not comment (not verified, or the post is not published)."""


class CommentRateLimited(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"You can post at most {limit} comment{'s' if limit != 1 else ''} a minute. "
                         "Please wait a moment and try again.")
        self.limit = limit


DOUBLE_SUBMIT_WINDOW = timedelta(seconds=30)


def comment_create(*, post: Post, author, body: str) -> Comment:
    """Save a comment as pending and queue its automatic moderation after commit.

    The same text sent again by the same author within a few seconds (a double click, a resent
    form) returns the first comment instead of saving it twice."""
    if post.status != Post.Status.PUBLISHED:
        raise CommentNotAllowed(gettext("Comments are open on published posts only."))
    if not members.member_is_verified(user=author):
        raise CommentNotAllowed(gettext("Please verify your email address before commenting."))
    body = body.strip()
    duplicate = (
        Comment.objects.filter(
            post=post, author=author, body=body, created_at__gte=timezone.now() - DOUBLE_SUBMIT_WINDOW
        ).order_by("-created_at").first()
    )
    if duplicate is not None:
        return duplicate
    _count_comment_or_refuse(author)
    from blog.tasks import moderate_comment_task

    with transaction.atomic():
        comment = Comment.objects.create(post=post, author=author, body=body)
        moderate_comment_task.delay_on_commit(comment.pk)
    return comment


def _count_comment_or_refuse(author) -> None:
    """COMMENT_RATE_LIMIT_PER_MINUTE per member, on the site's one rate limiter (fails open)."""
    limit = settings.COMMENT_RATE_LIMIT_PER_MINUTE
    try:
        refusal = rate_take([Counter("COMMENT_RATE_LIMIT_PER_MINUTE", (limit, 60), f"member:{author.pk}")])
    except Unavailable as error:
        logger.error("comment rate limit unavailable (%s): letting the comment through", error)
        return
    if refusal is not None:
        raise CommentRateLimited(limit)


def comment_moderate_automatically(*, comment_id: int) -> str | None:
    """Score a pending comment and approve it, hold it for staff or mark it spam.
    Returns the new status, or None when the comment is gone or no longer pending."""
    comment = Comment.objects.select_related("author").filter(pk=comment_id).first()
    if comment is None or comment.status != Comment.Status.PENDING:
        return None
    now = timezone.now()
    duplicates = (
        Comment.objects.filter(author_id=comment.author_id, body=comment.body, created_at__gte=now - timedelta(hours=1))
        .exclude(pk=comment.pk)
        .count()
    )
    score = moderation.score_comment(
        comment.body, account_age=now - comment.author.date_joined, recent_duplicates=duplicates
    )
    status = moderation.decide(score.points)
    won = _transition(
        comment_ids=[comment.pk], expected_status=Comment.Status.PENDING, new_status=status, moderator=None,
        extra={"score": score.points, "reasons": score.reasons},
    )
    return status if won else None


@dataclass
class DecisionResult:
    won: bool
    comment: Comment


def comment_decide(*, comment_id: int, moderator, new_status: str, expected_status: str) -> DecisionResult:
    """A moderator moves one comment from `expected_status` (what they saw) to `new_status`.
    Exactly one of two concurrent moderators wins; the loser gets the comment as it now stands
    (who decided, when, what)."""
    won = comments_decide(
        comment_ids=[comment_id], moderator=moderator, new_status=new_status, expected_status=expected_status
    )
    comment = Comment.objects.select_related("post", "author", "moderated_by").get(pk=comment_id)
    return DecisionResult(won=bool(won), comment=comment)


def comments_decide(*, comment_ids: list[int], moderator, new_status: str, expected_status: str) -> list[int]:
    """Bulk decision. Returns the pks this moderator actually changed (others decided the rest)."""
    if new_status not in DECIDABLE_STATUSES:
        raise ValueError(f"unknown decision {new_status!r}")
    if new_status == expected_status:
        return []
    return _transition(
        comment_ids=comment_ids, expected_status=expected_status, new_status=new_status, moderator=moderator
    )


def _transition(*, comment_ids, expected_status: str, new_status: str, moderator, extra: dict | None = None) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        # The row locks (PostgreSQL) / the write lock taken at BEGIN (SQLite) make the read and the
        # update one step: a comment another moderator changed meanwhile is not in `ids`.
        ids = list(
            Comment.objects.select_for_update()
            .filter(pk__in=comment_ids, status=expected_status)
            .values_list("pk", flat=True)
        )
        if not ids:
            return []
        Comment.objects.filter(pk__in=ids, status=expected_status).update(
            status=new_status, moderated_by=moderator, moderated_at=now, **(extra or {})
        )
        ModerationDecision.objects.bulk_create(
            ModerationDecision(comment_id=pk, moderator=moderator, previous_status=expected_status,
                               new_status=new_status, created_at=now)
            for pk in ids
        )
        if new_status == Comment.Status.APPROVED:
            _notify_post_authors(ids)
        moderator_id = getattr(moderator, "pk", None)
        transaction.on_commit(
            lambda: comment_status_changed.send(
                sender=Comment, comment_ids=ids, previous_status=expected_status, new_status=new_status,
                moderator_id=moderator_id,
            )
        )
    return ids


def _notify_post_authors(comment_ids: list[int]) -> None:
    """One email per approved comment to its post's author, queued together: a bulk approval of 100
    is one batch task after commit (outbox.emails_queue), not 100."""
    comments = list(Comment.objects.filter(pk__in=comment_ids).select_related("post__author", "author"))
    languages = members.member_languages(user_ids={comment.post.author_id for comment in comments})
    messages = []
    for comment in comments:
        post_author = comment.post.author
        if post_author.pk == comment.author_id or not post_author.email:
            continue
        link = f"{settings.SITE_URL}{comment.post.get_absolute_url()}#comment-{comment.pk}"
        excerpt = comment.body if len(comment.body) <= 300 else comment.body[:299] + "…"
        with translation.override(languages[post_author.pk]):
            subject = gettext("New comment on “%(title)s”") % {"title": comment.post.title}
            body = gettext(
                "%(username)s commented on your post “%(title)s”:\n\n%(excerpt)s\n\nRead it here: %(link)s\n"
            ) % {"username": comment.author.get_username(), "title": comment.post.title, "excerpt": excerpt,
                 "link": link}
        messages.append({"to": post_author.email, "subject": subject, "body": body, "kind": "comment_approved"})
    outbox.emails_queue(messages=messages)


def comments_pending_requeue(*, older_than_seconds: int) -> int:
    """Queue automatic moderation again for comments still pending after `older_than_seconds`.

    A comment's moderation message can be lost (Redis restarted without persistence, a worker
    killed before it acknowledged): without this the comment would wait for ever, seen by nobody.
    Moderation only changes a pending comment, so running it twice is harmless.
    """
    from blog.tasks import moderate_comment_task

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(Comment.objects.filter(status=Comment.Status.PENDING, created_at__lt=cutoff)
               .order_by("id").values_list("pk", flat=True)[:1000])
    for comment_id in ids:
        moderate_comment_task.delay(comment_id)
    return len(ids)
