"""Per-user API tokens: create (the plain token is shown once), authenticate, revoke.

Stored as a digest (dashboard.models.ApiToken says why SHA-256), found by a public prefix, compared
in constant time. A token works while it is not revoked, not past its optional expiry, and its
owner's password is the one they had when it was made (any change, by any path, ends it). `last_used_at` is written at most once a minute per token, so a busy script does
not turn every API call into a database write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from dashboard.models import ApiToken

TOKEN_PREFIX = "ldt_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ACTIVE_TOKENS = 20


class TokenRefused(Exception):
    """The token cannot be created; the message says why."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`, valid for `expires_in_days` (None: until revoked); returns the row and
    the plain token (the only time it exists). Callers have asked for the password."""
    name = name.strip()
    if not name:
        raise TokenRefused(gettext("Give the token a name, so you can tell it apart later."))
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True).exclude(expires_at__lte=timezone.now())
    if active.filter(name=name).exists():
        raise TokenRefused(gettext("You already have an active token named “%(name)s”.") % {"name": name})
    if active.count() >= MAX_ACTIVE_TOKENS:
        raise TokenRefused(gettext("You have %(count)d active tokens; revoke one first.") % {"count": MAX_ACTIVE_TOKENS})
    for _attempt in range(3):  # a prefix collision is a 1-in-4-billion event; try again
        prefix = secrets.token_hex(4)
        token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                row = ApiToken.objects.create(
                    user=user, name=name, prefix=prefix, digest=_digest(token),
                    password_stamp=user.get_session_auth_hash(),
                    expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None)
        except IntegrityError:
            continue
        return row, token
    raise TokenRefused(gettext("Could not create a token; try again."))


def api_token_authenticate(token: str) -> ApiToken | None:
    """The active token row matching `token` (with its user loaded), or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = token[len(TOKEN_PREFIX):].partition("_")
    if not prefix or not secret:
        return None
    row = ApiToken.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
    if row is None or not hmac.compare_digest(row.digest, _digest(token)):
        return None
    if row.is_expired or not row.password_current:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


def api_token_revoke(*, user, token_id: int) -> bool:
    """Revoke one of `user`'s tokens; False if it was not theirs or already revoked."""
    return bool(ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(revoked_at=timezone.now()))
