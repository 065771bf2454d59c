"""Throttles on the account doors: log-in, sign-up, password reset and the verification re-send.

Each door counts attempts in a few buckets (per username or email, per client address), each a
Redis counter that starts its window at the first attempt and expires when the window ends: a
lock-out is a cool-down that ends by itself, shared by every web process, with nothing to clear by
hand. One pipeline per attempt (SET NX EX, INCR, TTL for each bucket): one Redis round trip.

Over any limit the door answers 429 with a page that says when to try again (and `Retry-After`),
and logs a line naming the door, the limit and the client. The client is
`site_config.machinery.client_address.request_client_bucket` (IPv6 by /64), so neither a forged
X-Forwarded-For nor a fresh IPv6 address gives a fresh bucket.

Why not django-axes: it covers the log-in only (the other doors would need this module anyway),
writes database rows per attempt, brings its own models, admin and lock-out reset commands, locks
out until an administrator resets unless a cool-off is configured, and decides the client address
itself through django-ipware, a second opinion next to ours. Its middleware is also one more
hook to keep off the async path. A counter per bucket in the Redis the site already has is a page
of code, async-neutral (the doors are sync views) and testable through real requests.

Redis unreachable: the doors stay open (logged). Refusing every log-in while Redis restarts would
lock everyone out to slow down a guesser for a few seconds.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

import redis
from django.conf import settings
from django.shortcuts import render
from django.utils import timezone

from site_config.machinery.client_address import request_client_bucket
from site_config.machinery.redis_roles import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "site:throttle:"

# What the 429 page says, per limit: which door, and what the person can do meanwhile.
MESSAGES = {
    "THROTTLE_LOGIN_PER_USERNAME": "Too many failed log-ins for this account.",
    "THROTTLE_LOGIN_PER_ADDRESS": "Too many failed log-ins from your network.",
    "THROTTLE_PASSWORD_RESET_PER_ADDRESS": "Too many password reset requests from your network.",
    "THROTTLE_PASSWORD_RESET_PER_EMAIL": (
        "Several reset links were sent to this address recently; any of them still works, so check "
        "your inbox (and spam folder) before asking again."
    ),
    "THROTTLE_VERIFICATION_RESEND_PER_ADDRESS": "Too many confirmation links requested from your network.",
    "THROTTLE_VERIFICATION_RESEND_PER_EMAIL": (
        "Several confirmation links were sent to your address recently; any of them still works."
    ),
    "THROTTLE_SIGNUP_PER_ADDRESS": "Too many sign-ups from your network.",
}


@dataclass(frozen=True)
class Bucket:
    """One counter: the setting that gives its limit, that limit (count, seconds), and what it counts
    for (a username, an address)."""

    limit: str
    rate: tuple[int, int]
    identity: str

    @property
    def key(self) -> str:
        # Hashed: usernames and emails never appear in Redis keys.
        return KEY_PREFIX + self.limit + ":" + hashlib.sha256(self.identity.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    bucket: Bucket
    retry_after: int  # seconds until the bucket's window ends


def _redis() -> redis.Redis:
    return redis_client("keys")


def throttle_take(buckets: list[Bucket]) -> Refusal | None:
    """Count one attempt in every bucket; the refusal with the longest wait if any is over its limit."""
    active = [(bucket, *bucket.rate) for bucket in buckets if bucket.rate[0]]
    if not active:
        return None
    try:
        pipe = _redis().pipeline(transaction=False)
        for bucket, _count, seconds in active:
            pipe.set(bucket.key, 0, ex=seconds, nx=True).incr(bucket.key).ttl(bucket.key)
        replies = pipe.execute()
    except (redis.RedisError, OSError) as error:
        logger.error("throttles unavailable (%s): letting the attempt through", error)
        return None
    refusal = None
    for index, (bucket, count, seconds) in enumerate(active):
        used, ttl = replies[3 * index + 1], replies[3 * index + 2]
        if ttl < 0:  # a counter without a window (never expected): give it one, or it would never end
            _redis().expire(bucket.key, seconds)
        if used > count:
            wait = ttl if ttl > 0 else seconds
            if refusal is None or wait > refusal.retry_after:
                refusal = Refusal(bucket, wait)
    return refusal


# Decrement only counters that still exist: a DECR on one whose window just ended would create a
# counter without a window.
_REFUND_SCRIPT = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
"""


def throttle_refund(buckets: list[Bucket]) -> None:
    """Take back an attempt that turned out fine (a successful log-in is not a guess)."""
    keys = [bucket.key for bucket in buckets if bucket.rate[0]]
    if not keys:
        return
    try:
        _redis().eval(_REFUND_SCRIPT, len(keys), *keys)
    except (redis.RedisError, OSError) as error:
        logger.error("throttles unavailable (%s): could not refund", error)


def too_many_attempts(request, door: str, refusal: Refusal):
    """The 429 page: what happened, and when to try again."""
    retry_at = timezone.localtime() + timedelta(seconds=refusal.retry_after)
    minutes = max(1, -(-refusal.retry_after // 60))
    response = render(request, "429.html", {
        "door": door,
        "message": MESSAGES.get(refusal.bucket.limit, "Too many attempts."),
        "retry_after": refusal.retry_after,
        "retry_minutes": minutes,
        "retry_at": retry_at,
    }, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def throttled(door: str, buckets_for, *, succeeded=None):
    """Decorate a view so that its POSTs count in `buckets_for(request)`; 429 when over a limit.

    `succeeded(request, response)`, when given, says which attempts to give back (for the log-in:
    only failures count, so people who type their password right are never slowed down).
    """
    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            buckets = buckets_for(request)
            refusal = throttle_take(buckets)
            if refusal is not None:
                logger.warning("throttled %s: %s over %s/%ss from %s; try again in %ss", door, refusal.bucket.limit,
                               *refusal.bucket.rate, request_client_bucket(request),
                               refusal.retry_after)
                return too_many_attempts(request, door, refusal)
            response = view(request, *args, **kwargs)
            if succeeded is not None and succeeded(request, response):
                throttle_refund(buckets)
            return response
        return wrapped
    return decorate


def _field(request, name: str) -> str:
    return " ".join(request.POST.get(name, "").split()).casefold()[:254]


def _login_buckets(request) -> list[Bucket]:
    return [Bucket("THROTTLE_LOGIN_PER_USERNAME", settings.THROTTLE_LOGIN_PER_USERNAME, _field(request, "username")),
            Bucket("THROTTLE_LOGIN_PER_ADDRESS", settings.THROTTLE_LOGIN_PER_ADDRESS, request_client_bucket(request))]


def _logged_in(request, response) -> bool:
    return response.status_code in (301, 302, 303) and request.user.is_authenticated


def login_throttled(view):
    """Log-in (ours and the admin's): failed attempts per username and per client address."""
    return throttled("log-in", _login_buckets, succeeded=_logged_in)(view)


def password_reset_throttled(view):
    """Password reset requests: per client address (strict) and per email asked for (looser)."""
    return throttled("password reset", lambda request: [
        Bucket("THROTTLE_PASSWORD_RESET_PER_ADDRESS", settings.THROTTLE_PASSWORD_RESET_PER_ADDRESS,
               request_client_bucket(request)),
        Bucket("THROTTLE_PASSWORD_RESET_PER_EMAIL", settings.THROTTLE_PASSWORD_RESET_PER_EMAIL, _field(request, "email")),
    ])(view)


def signup_throttled(view):
    """Sign-up attempts per client address."""
    return throttled("sign-up", lambda request: [
        Bucket("THROTTLE_SIGNUP_PER_ADDRESS", settings.THROTTLE_SIGNUP_PER_ADDRESS, request_client_bucket(request)),
    ])(view)


def verification_resend_throttled(view):
    """New confirmation links: per member's email and per client address (inside login_required)."""
    return throttled("verification re-send", lambda request: [
        Bucket("THROTTLE_VERIFICATION_RESEND_PER_ADDRESS", settings.THROTTLE_VERIFICATION_RESEND_PER_ADDRESS,
               request_client_bucket(request)),
        Bucket("THROTTLE_VERIFICATION_RESEND_PER_EMAIL", settings.THROTTLE_VERIFICATION_RESEND_PER_EMAIL,
               (getattr(request.user, "email", "") or "").casefold()),
    ])(view)
