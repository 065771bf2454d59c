"""Blog business logic: members and verification, the email outbox, comments and their moderation.

Views, tasks, the admin and the dashboard call these functions; they never call each other's
views. State changes are conditional updates whose row count is the lock, and anything that must
happen after a change (sending an email, telling live pages) is queued with on_commit.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from blog import moderation
from blog.models import Comment, ModerationDecision, OutboundEmail, Post, Profile
from blog.signals import comment_status_changed

logger = logging.getLogger(__name__)

User = get_user_model()

#: Errors worth trying again later: the SMTP server or the network, not the message itself.
TRANSIENT_EMAIL_ERRORS = (smtplib.SMTPException, OSError)

VERIFY_SALT = "blog.verify-email"
DECIDABLE_STATUSES = {"approved", "rejected", "spam", "held"}


# --- email outbox ---


def email_queue(*, to: str, subject: str, body: str, kind: str) -> OutboundEmail:
    """Record an email in the current transaction; it is handed to Celery after commit."""
    email = OutboundEmail.objects.create(to=to, subject=subject, body=body, kind=kind)
    _send_after_commit(email.pk)
    return email


def _send_after_commit(email_id: int) -> None:
    from blog.tasks import email_send_task

    email_send_task.delay_on_commit(email_id)


class EmailDeliveryFailed(Exception):
    """The last attempt failed: the row is marked failed and nobody will retry it automatically."""


def email_send(*, email_id: int) -> str:
    """Send one queued email. Returns "sent", or "skipped" when another run already has it.

    The row is claimed (queued -> sending) by a conditional update: if the task runs twice, only
    one run gets the row, so the message is never sent twice. On a transient error the row goes
    back to queued with the error and the exception propagates so the task retries with back-off;
    after EMAIL_SEND_MAX_ATTEMPTS (or on a permanent error) it is marked failed with the reason.
    """
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.QUEUED).update(
        status=OutboundEmail.Status.SENDING, updated_at=now
    )
    if not claimed:
        return "skipped"
    email = OutboundEmail.objects.get(pk=email_id)
    attempts = email.attempts + 1
    try:
        message = EmailMessage(
            subject=email.subject, body=email.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email.to],
            connection=get_connection(fail_silently=False),
        )
        message.send()
    except Exception as error:
        transient = isinstance(error, TRANSIENT_EMAIL_ERRORS)
        final = not transient or attempts >= settings.EMAIL_SEND_MAX_ATTEMPTS
        reason = f"{type(error).__name__}: {error}"[:2000]
        OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.SENDING).update(
            status=OutboundEmail.Status.FAILED if final else OutboundEmail.Status.QUEUED,
            attempts=attempts, last_error=reason, updated_at=timezone.now(),
        )
        if final:
            logger.warning("email %s failed for good after %s attempt(s): %s", email_id, attempts, reason)
            raise EmailDeliveryFailed(reason) from error
        logger.info("email %s attempt %s failed, will retry: %s", email_id, attempts, reason)
        raise
    OutboundEmail.objects.filter(pk=email_id).update(
        status=OutboundEmail.Status.SENT, attempts=attempts, sent_at=timezone.now(), updated_at=timezone.now()
    )
    return "sent"


def email_sweep(*, queued_after_seconds: int | None = None, sending_after_seconds: int | None = None) -> int:
    """Queue again emails left unsent: "queued" for longer than any back-off (the task was lost,
    e.g. a crash between commit and enqueue) or "sending" for too long (a worker died mid-send).
    Returns how many were re-queued. A duplicate task is harmless: the claim lets one through."""
    now = timezone.now()
    queued_after = settings.EMAIL_SWEEP_QUEUED_AFTER_SECONDS if queued_after_seconds is None else queued_after_seconds
    sending_after = (
        settings.EMAIL_SWEEP_SENDING_AFTER_SECONDS if sending_after_seconds is None else sending_after_seconds
    )
    stuck_sending = list(
        OutboundEmail.objects.filter(
            status=OutboundEmail.Status.SENDING, updated_at__lt=now - timedelta(seconds=sending_after)
        ).values_list("pk", flat=True)
    )
    OutboundEmail.objects.filter(pk__in=stuck_sending, status=OutboundEmail.Status.SENDING).update(
        status=OutboundEmail.Status.QUEUED, updated_at=now, last_error="re-queued: stuck while sending"
    )
    stale_queued = list(
        OutboundEmail.objects.filter(
            status=OutboundEmail.Status.QUEUED, updated_at__lt=now - timedelta(seconds=queued_after)
        ).values_list("pk", flat=True)
    )
    ids = sorted(set(stale_queued) | set(stuck_sending))
    for pk in ids:
        _send_after_commit(pk)
    if ids:
        logger.info("email sweep re-queued %s email(s)", len(ids))
    return len(ids)


def email_requeue_failed(*, email_id: int) -> bool:
    """Staff action: try a failed email again from scratch."""
    with transaction.atomic():
        changed = OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.FAILED).update(
            status=OutboundEmail.Status.QUEUED, attempts=0, updated_at=timezone.now()
        )
        if changed:
            _send_after_commit(email_id)
    return bool(changed)


# --- members and verification ---


def member_is_verified(*, user) -> bool:
    """Verified members may comment. Anonymous users and users without a profile are not verified."""
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        return user.profile.email_verified_at is not None
    except Profile.DoesNotExist:
        return False


def member_signup(*, username: str, email: str, password: str, base_url: str):
    """Create an unverified member and their verification email, in one transaction."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        Profile.objects.create(user=user)
        verification_email_queue(user=user, base_url=base_url)
    return user


def verification_token_make(*, user) -> str:
    # The email is part of the signed value, so a link stops working if the address changes.
    return signing.TimestampSigner(salt=VERIFY_SALT).sign_object({"user": user.pk, "email": user.email})


class VerifyOutcome(Enum):
    VERIFIED = "verified"
    ALREADY_USED = "already_used"
    EXPIRED = "expired"
    INVALID = "invalid"


def member_verify(*, token: str) -> tuple[VerifyOutcome, object | None]:
    """Check a verification link and mark the member verified. The link works once."""
    signer = signing.TimestampSigner(salt=VERIFY_SALT)
    try:
        data = signer.unsign_object(token, max_age=settings.VERIFICATION_LINK_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        return VerifyOutcome.EXPIRED, None
    except (signing.BadSignature, ValueError, TypeError):
        return VerifyOutcome.INVALID, None
    if not isinstance(data, dict):
        return VerifyOutcome.INVALID, None
    user = User.objects.filter(pk=data.get("user"), email=data.get("email")).first()
    if user is None:
        return VerifyOutcome.INVALID, None
    profile, _ = Profile.objects.get_or_create(user=user)
    verified = Profile.objects.filter(pk=profile.pk, email_verified_at__isnull=True).update(
        email_verified_at=timezone.now()
    )
    return (VerifyOutcome.VERIFIED if verified else VerifyOutcome.ALREADY_USED), user


def verification_email_queue(*, user, base_url: str) -> OutboundEmail:
    link = base_url.rstrip("/") + reverse("verify_email", kwargs={"token": verification_token_make(user=user)})
    hours = settings.VERIFICATION_LINK_MAX_AGE_SECONDS // 3600
    body = (
        f"Hello {user.get_username()},\n\n"
        f"Please confirm your email address to start commenting:\n\n{link}\n\n"
        f"The link works once and expires in {hours} hours. If you did not sign up, ignore this email.\n"
    )
    return email_queue(to=user.email, subject="Confirm your email address", body=body, kind="verification")


def verification_resend(*, user, base_url: str) -> bool:
    """Send a new link unless one was sent within VERIFICATION_RESEND_COOLDOWN_SECONDS.
    Returns False when rate-limited. The cache (Redis) is shared by every web process."""
    if member_is_verified(user=user):
        return False
    if not cache.add(f"blog:verify-resend:{user.pk}", 1, settings.VERIFICATION_RESEND_COOLDOWN_SECONDS):
        return False
    with transaction.atomic():
        verification_email_queue(user=user, base_url=base_url)
    return True


def member_purge_unverified(*, older_than_days: int | None = None) -> int:
    """Delete members who signed up at least `older_than_days` ago and never verified.

    Only sign-ups are candidates (they have a profile with no verification); staff, superusers,
    verified members and anyone with a post or a comment are never touched. Returns the count."""
    days = settings.MEMBER_PURGE_UNVERIFIED_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    candidates = (
        User.objects.filter(
            profile__isnull=False,
            profile__email_verified_at__isnull=True,
            date_joined__lte=cutoff,
            is_staff=False,
            is_superuser=False,
        )
        .filter(~Exists(Post.objects.filter(author=OuterRef("pk"))))
        .filter(~Exists(Comment.objects.filter(author=OuterRef("pk"))))
    )
    with transaction.atomic():
        ids = list(candidates.values_list("pk", flat=True))
        if ids:
            User.objects.filter(pk__in=ids).delete()
    logger.info("purged %s unverified member(s) older than %s day(s)", len(ids), days)
    return len(ids)


# --- comments ---


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
        raise CommentNotAllowed("Comments are open on published posts only.")
    if not member_is_verified(user=author):
        raise CommentNotAllowed("Please verify your email address before commenting.")
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
    limit = settings.COMMENT_RATE_LIMIT_PER_MINUTE
    minute = int(timezone.now().timestamp() // 60)
    key = f"blog:comment-rate:{author.pk}:{minute}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 120)
        count = 1
    if count > limit:
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
    comments = Comment.objects.filter(pk__in=comment_ids).select_related("post__author", "author")
    for comment in comments:
        post_author = comment.post.author
        if post_author.pk == comment.author_id or not post_author.email:
            continue
        link = f"{settings.SITE_URL}{comment.post.get_absolute_url()}#comment-{comment.pk}"
        excerpt = comment.body if len(comment.body) <= 300 else comment.body[:299] + "…"
        email_queue(
            to=post_author.email,
            subject=f"New comment on “{comment.post.title}”",
            body=(
                f"{comment.author.get_username()} commented on your post “{comment.post.title}”:\n\n"
                f"{excerpt}\n\nRead it here: {link}\n"
            ),
            kind="comment_approved",
        )
