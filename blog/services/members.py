"""Members: sign-up, the signed one-time email verification link, and the purge of members who
never verified.

Being verified is what allows commenting, so member_is_verified is the single check the comment
rules rely on. Verification emails go through the outbox like every other email.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from blog.models import Comment, OutboundEmail, Post, Profile
from blog.services import outbox

logger = logging.getLogger(__name__)

User = get_user_model()

VERIFY_SALT = "blog.verify-email"


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
    return outbox.email_queue(to=user.email, subject="Confirm your email address", body=body, kind="verification")


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
