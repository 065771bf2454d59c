"""Members: sign-up (which never tells whether an address is registered), the signed one-time
email verification link (confirmed by a POST from the page it opens), and the purge of members who
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
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

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


def member_signup(*, username: str, email: str, password: str):
    """Create an unverified member and their verification email, in one transaction, and return it.

    When the email address already belongs to an account, nothing is created and that account's
    owner gets an email saying someone tried to sign up with it; returns None. Callers answer both
    cases the same way, so sign-up cannot be used to find out whether an address is registered.
    """
    existing = User.objects.filter(email__iexact=email).order_by("pk").first()
    if existing is not None:
        # A new account costs a password hash; spend the same time here, so the answer's timing
        # does not tell the two cases apart either.
        make_password(password)
        signup_attempt_notice_queue(user=existing)
        return None
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        # The language the member signed up in is the one their emails are written in until they switch.
        Profile.objects.create(user=user, language=_active_language())
        verification_email_queue(user=user)
    return user


def signup_attempt_notice_queue(*, user) -> OutboundEmail | None:
    """Tell an account's owner that someone tried to sign up with their address. At most one such
    email per account per VERIFICATION_RESEND_COOLDOWN_SECONDS, so repeated sign-ups cannot be
    used to flood someone's inbox; returns None when one was sent recently."""
    if not cache.add(f"blog:signup-attempt:{user.pk}", 1, settings.VERIFICATION_RESEND_COOLDOWN_SECONDS):
        return None
    with translation.override(member_language(user=user)):
        subject = gettext("Someone tried to sign up with your email address")
        body = gettext(
            "Hello %(username)s,\n\n"
            "Someone tried to sign up at %(site)s with this email address, which already belongs to "
            "your account. No new account was created and yours is unchanged.\n\n"
            "If it was you, log in instead: %(login_url)s\n"
            "Forgot your password? %(reset_url)s\n\n"
            "If it was not you, you need not do anything.\n"
        ) % {"username": user.get_username(), "site": settings.SITE_URL,
             "login_url": settings.SITE_URL + reverse("login"),
             "reset_url": settings.SITE_URL + reverse("password_reset")}
    with transaction.atomic():
        return outbox.email_queue(to=user.email, subject=subject, body=body, kind="signup_attempt")


def verification_token_make(*, user) -> str:
    # The email is part of the signed value, so a link stops working if the address changes.
    return signing.TimestampSigner(salt=VERIFY_SALT).sign_object({"user": user.pk, "email": user.email})


class VerifyOutcome(Enum):
    PENDING = "pending"  # a good link not used yet: its page asks the member to confirm
    VERIFIED = "verified"
    ALREADY_USED = "already_used"
    EXPIRED = "expired"
    INVALID = "invalid"


def verification_check(*, token: str) -> tuple[VerifyOutcome, object | None]:
    """What a verification link is (PENDING, ALREADY_USED, EXPIRED or INVALID), changing nothing.

    Opening a link (GET) only checks it: mail scanners and link previews open every link in an
    email, and must not confirm an address on the owner's behalf. member_verify confirms (POST)."""
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
    if Profile.objects.filter(user=user, email_verified_at__isnull=False).exists():
        return VerifyOutcome.ALREADY_USED, user
    return VerifyOutcome.PENDING, user


def member_verify(*, token: str) -> tuple[VerifyOutcome, object | None]:
    """Confirm the address of a verification link and mark the member verified. The link works once."""
    outcome, user = verification_check(token=token)
    if outcome is not VerifyOutcome.PENDING:
        return outcome, user
    profile, _ = Profile.objects.get_or_create(user=user)
    verified = Profile.objects.filter(pk=profile.pk, email_verified_at__isnull=True).update(
        email_verified_at=timezone.now()
    )
    return (VerifyOutcome.VERIFIED if verified else VerifyOutcome.ALREADY_USED), user


def verification_email_queue(*, user) -> OutboundEmail:
    # SITE_URL, never the request's Host header: a client chooses that, and could have the link
    # (and its token) point at a host of theirs.
    link = settings.SITE_URL + reverse("verify_email", kwargs={"token": verification_token_make(user=user)})
    hours = settings.VERIFICATION_LINK_MAX_AGE_SECONDS // 3600
    with translation.override(member_language(user=user)):
        subject = gettext("Confirm your email address")
        body = gettext(
            "Hello %(username)s,\n\n"
            "Please confirm your email address to start commenting:\n\n%(link)s\n\n"
        ) % {"username": user.get_username(), "link": link} + ngettext(
            "The link works once and expires in %(hours)d hour. If you did not sign up, ignore this email.\n",
            "The link works once and expires in %(hours)d hours. If you did not sign up, ignore this email.\n",
            hours,
        ) % {"hours": hours}
    return outbox.email_queue(to=user.email, subject=subject, body=body, kind="verification")


def verification_resend(*, user) -> bool:
    """Send a new link unless one was sent within VERIFICATION_RESEND_COOLDOWN_SECONDS.
    Returns False when rate-limited. The cache (Redis) is shared by every web process."""
    if member_is_verified(user=user):
        return False
    if not cache.add(f"blog:verify-resend:{user.pk}", 1, settings.VERIFICATION_RESEND_COOLDOWN_SECONDS):
        return False
    with transaction.atomic():
        verification_email_queue(user=user)
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


def member_language_set(*, user, language: str) -> None:
    """Remember a signed-in member's language (a code of settings.LANGUAGES) in their profile."""
    profile, _ = Profile.objects.get_or_create(user=user)
    Profile.objects.filter(pk=profile.pk).update(language=language)


def _active_language() -> str:
    """The language of the request being answered, when it is one of the site's ("" otherwise)."""
    language = translation.get_language() or ""
    return language if language in dict(settings.LANGUAGES) else ""


def member_language(*, user) -> str:
    """The language to write to `user` in: their chosen one, else the site's default."""
    language = Profile.objects.filter(user=user).values_list("language", flat=True).first()
    return language or settings.LANGUAGE_CODE


def member_languages(*, user_ids) -> dict:
    """member_language for many members in one query: {user id: language}, every id present."""
    chosen = dict(Profile.objects.filter(user_id__in=user_ids).exclude(language="").values_list("user_id", "language"))
    return {user_id: chosen.get(user_id, settings.LANGUAGE_CODE) for user_id in user_ids}


def language_on_login(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: a member who chose a language gets it back on any browser (the
    locale middleware writes it into the language cookie)."""
    language = Profile.objects.filter(user=user).values_list("language", flat=True).first()
    if language and request is not None:
        request.language_cookie = language
