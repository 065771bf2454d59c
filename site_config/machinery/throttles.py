"""Throttles on the account doors: log-in, sign-up, password reset and the verification re-send.

Each door counts attempts in a few counters of the site's one rate limiter
(`site_config/machinery/rate_limit.py`: Redis, shared by every web process, windows that end by
themselves). Over a limit the door answers 429 with a page that says when to try again (and
`Retry-After`), and logs a line naming the door, the limit and the client. The client is
`site_config.machinery.client_address.request_client_bucket` (IPv6 by /64), so neither a forged
X-Forwarded-For nor a fresh IPv6 address gives a fresh counter.

The log-in counts so that a guesser cannot lock the owner out (OWASP, "Slow down online guessing
attacks with device cookies"): failed log-ins count per account *and* address, and per address; a
browser that has logged in to the account before carries a signed device cookie and has its own
allowance for that account; browsers without one share a larger allowance per account, which
slows a guesser who spreads over many addresses. Only failures count. A password reset is limited
per address (429); the per-email cap is quiet: past it no new link is sent, the page answers as
always, and the links already sent stay valid.

Why not django-axes: it covers the log-in only (the other doors would need this module anyway),
writes database rows per attempt, brings its own models, admin and lock-out reset commands, locks
out until an administrator resets unless a cool-off is configured, and decides the client address
itself through django-ipware, a second opinion next to ours.

Redis unreachable: the doors stay open (logged). Refusing every log-in while Redis restarts would
lock everyone out to slow down a guesser for a few seconds.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.core import signing
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from site_config.machinery.client_address import request_client_bucket
from site_config.machinery.rate_limit import Counter, Refusal, Unavailable, rate_refund, rate_take

logger = logging.getLogger(__name__)

# What the 429 page says, per limit: which door, and what the person can do meanwhile.
MESSAGES = {
    "THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS": _("Too many failed log-ins for this account from your network."),
    "THROTTLE_LOGIN_PER_USERNAME": _(
        "Too many failed log-ins for this account from browsers it has not logged in from. "
        "A browser you have logged in from before can still log in."
    ),
    "THROTTLE_LOGIN_PER_DEVICE": _("Too many failed log-ins for this account from this browser."),
    "THROTTLE_LOGIN_PER_ADDRESS": _("Too many failed log-ins from your network."),
    "THROTTLE_PASSWORD_RESET_PER_ADDRESS": _("Too many password reset requests from your network."),
    "THROTTLE_VERIFICATION_RESEND_PER_ADDRESS": _("Too many confirmation links requested from your network."),
    "THROTTLE_VERIFICATION_RESEND_PER_EMAIL": _(
        "Several confirmation links were sent to your address recently; any of them still works."
    ),
    "THROTTLE_SIGNUP_PER_ADDRESS": _("Too many sign-ups from your network."),
}

#: The browser's proof that it has logged in to these accounts before (signed, HttpOnly).
DEVICE_COOKIE = "login_device"
DEVICE_SALT = "site.login-device"
DEVICE_MAX_AGE = 365 * 24 * 3600
DEVICE_MAX_ACCOUNTS = 10


def throttle_take(request, door: str, counters: list[Counter]) -> Refusal | None:
    """Count one attempt; the refusal (logged) if a counter is over its limit. Fails open."""
    try:
        refusal = rate_take(counters)
    except Unavailable as error:
        logger.error("throttles unavailable (%s): letting the attempt through", error)
        return None
    if refusal is not None:
        logger.warning("throttled %s: %s over %s/%ss from %s; try again in %ss", door, refusal.counter.name,
                       *refusal.counter.rate, request_client_bucket(request), refusal.retry_after)
    return refusal


def too_many_attempts(request, door: str, refusal: Refusal):
    """The 429 page: what happened, and when to try again."""
    retry_at = timezone.localtime() + timedelta(seconds=refusal.retry_after)
    minutes = max(1, -(-refusal.retry_after // 60))
    response = render(request, "429.html", {
        "door": door,
        "message": MESSAGES.get(refusal.counter.name, _("Too many attempts.")),
        "retry_after": refusal.retry_after,
        "retry_minutes": minutes,
        "retry_at": retry_at,
    }, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def throttled(door: str, counters_for):
    """Decorate a view so that its POSTs count in `counters_for(request)`; 429 when over a limit."""
    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            refusal = throttle_take(request, door, counters_for(request))
            if refusal is not None:
                return too_many_attempts(request, door, refusal)
            return view(request, *args, **kwargs)
        return wrapped
    return decorate


def _field(request, name: str) -> str:
    return " ".join(request.POST.get(name, "").split()).casefold()[:254]


def _account_hash(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:16]


def _device(request) -> dict | None:
    """The device cookie's content ({"n": nonce, "a": [account hashes]}), if it is ours and fresh."""
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        value = signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE)
    except signing.BadSignature:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("a"), list) else None


def _login_counters(request) -> list[Counter]:
    username, address = _field(request, "username"), request_client_bucket(request)
    counters = [Counter("THROTTLE_LOGIN_PER_ADDRESS", settings.THROTTLE_LOGIN_PER_ADDRESS, address)]
    device = _device(request)
    if device is not None and _account_hash(username) in device["a"]:
        counters.append(Counter("THROTTLE_LOGIN_PER_DEVICE", settings.THROTTLE_LOGIN_PER_DEVICE,
                                f"{username}\n{device['n']}"))
    else:
        counters += [
            Counter("THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS", settings.THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS,
                    f"{username}\n{address}"),
            Counter("THROTTLE_LOGIN_PER_USERNAME", settings.THROTTLE_LOGIN_PER_USERNAME, username),
        ]
    return counters


def _remember_device(request, response) -> None:
    device = _device(request) or {"n": secrets.token_urlsafe(16), "a": []}
    account = _account_hash(_field(request, "username"))
    accounts = [account] + [a for a in device["a"] if a != account]
    value = signing.dumps({"n": device["n"], "a": accounts[:DEVICE_MAX_ACCOUNTS]}, salt=DEVICE_SALT)
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_MAX_AGE, httponly=True, samesite="Lax",
                        secure=settings.SESSION_COOKIE_SECURE)


def _logged_in(request, response) -> bool:
    return response.status_code in (301, 302, 303) and request.user.is_authenticated


def login_throttled(view):
    """Log-in (ours and the admin's): failed attempts per account and address, per address, and per
    account from unknown browsers; a browser that logged in before has its own allowance."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        counters = _login_counters(request)
        refusal = throttle_take(request, "log-in", counters)
        if refusal is not None:
            return too_many_attempts(request, "log-in", refusal)
        response = view(request, *args, **kwargs)
        if _logged_in(request, response):  # only failures count
            rate_refund(counters)
            _remember_device(request, response)
        return response
    return wrapped


def password_reset_throttled(view):
    """Password reset requests: per client address (429), and a quiet cap per email asked for."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        address = Counter("THROTTLE_PASSWORD_RESET_PER_ADDRESS", settings.THROTTLE_PASSWORD_RESET_PER_ADDRESS,
                          request_client_bucket(request))
        refusal = throttle_take(request, "password reset", [address])
        if refusal is not None:
            return too_many_attempts(request, "password reset", refusal)
        email = Counter("THROTTLE_PASSWORD_RESET_PER_EMAIL", settings.THROTTLE_PASSWORD_RESET_PER_EMAIL,
                        _field(request, "email"))
        if throttle_take(request, "password reset (quiet, no link sent)", [email]) is not None:
            # Answered as always: the links already sent still work, and a stranger asking for
            # this address learns nothing and cannot stop its owner from resetting.
            return redirect("password_reset_done")
        return view(request, *args, **kwargs)
    return wrapped


def signup_throttled(view):
    """Sign-up attempts per client address."""
    return throttled("sign-up", lambda request: [
        Counter("THROTTLE_SIGNUP_PER_ADDRESS", settings.THROTTLE_SIGNUP_PER_ADDRESS, request_client_bucket(request)),
    ])(view)


def verification_resend_throttled(view):
    """New confirmation links: per member's email and per client address (inside login_required)."""
    return throttled("verification re-send", lambda request: [
        Counter("THROTTLE_VERIFICATION_RESEND_PER_ADDRESS", settings.THROTTLE_VERIFICATION_RESEND_PER_ADDRESS,
                request_client_bucket(request)),
        Counter("THROTTLE_VERIFICATION_RESEND_PER_EMAIL", settings.THROTTLE_VERIFICATION_RESEND_PER_EMAIL,
                (request.user.email or "").casefold()),
    ])(view)
