"""The site's middleware, able to run on daphne's event loop without a thread hop per hook.

Why: under ASGI, Django runs an async view through the middleware stack in async mode. Two things
made every request pay for threads it did not need (measured with py-spy on bench/weather_bench.py,
see docs/benchmarks.md "Weather"):

- WhiteNoise's middleware is synchronous only, so Django called the whole stack through
  `sync_to_async` and the rest of it, the async view included, back through `async_to_sync`;
- Django's own middleware (`MiddlewareMixin`) runs each `process_request` / `process_view` /
  `process_response` hook in async mode through `sync_to_async(thread_sensitive=True)`: about 14
  hand-offs to a worker thread per request, on a thread started for that request and joined at its
  end (ASGI's per-request thread-sensitive context), for hooks that only read and set headers.

The classes below are the same middleware with an async mode that calls those hooks directly on the
event loop when they cannot block, and still in a thread when they might touch the database or the
disk: saving a modified session, storing messages, CSRF with `CSRF_USE_SESSIONS`, the CSRF check of
an unsafe request (it reads the body), serving a static file. The sync (WSGI) mode is unchanged.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp.constants import HEADER as CSP_HEADER
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as _CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware as _CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as _CsrfViewMiddleware
from django.middleware.locale import LocaleMiddleware as _LocaleMiddleware
from django.middleware.security import SecurityMiddleware as _SecurityMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware as _WhiteNoiseMiddleware

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


class _OnTheLoop:
    """Mixin for a `MiddlewareMixin`: in async mode, run its hooks on the event loop unless told not to."""

    def _request_may_block(self, request) -> bool:
        return False

    def _response_may_block(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            if self._request_may_block(request):
                response = await sync_to_async(self.process_request, thread_sensitive=True)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self._response_may_block(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class SecurityMiddleware(_OnTheLoop, _SecurityMiddleware):
    """Headers and the HTTPS redirect only."""


class CSPMiddleware(_OnTheLoop, _CSPMiddleware):
    """django-csp's: a lazy nonce on the request, one header on the response (string work only).

    django-csp rebuilds the policy from the settings for every response (70-100 µs: dataclass
    copies and joins), a visible share of a weather visitor's CPU. Here the site-wide policy is
    built once per settings object, with a marker where the nonce goes, and each response only
    substitutes its nonce. Responses a view changed (django-csp's decorators), a report-only policy
    and excluded prefixes go through django-csp's own code. Relies on django-csp 4.0's `_csp_*`
    response attributes and `_csp_nonce` (pinned): check them when upgrading.
    """

    _NONCE_MARK = "\x00nonce\x00"
    _built: tuple[object, str, str] | None = None  # (the settings dict, policy with the mark, without a nonce)

    def _site_policy(self) -> tuple[str, str]:
        config = settings.CONTENT_SECURITY_POLICY
        built = CSPMiddleware._built
        if built is None or built[0] is not config:
            with_mark = build_policy(nonce=self._NONCE_MARK)
            built = CSPMiddleware._built = (config, with_mark, build_policy())
        return built[1], built[2]

    def process_response(self, request, response):
        config = settings.CONTENT_SECURITY_POLICY
        if (not config or config.get("EXCLUDE_URL_PREFIXES") or settings.CONTENT_SECURITY_POLICY_REPORT_ONLY
                or any(hasattr(response, name) for name in _CSP_VIEW_ATTRIBUTES)):
            return super().process_response(request, response)
        if response.status_code in (404, 500) and settings.DEBUG:  # Django's debug pages have inline styles
            return response
        nonce = getattr(request, "_csp_nonce", None)
        with_mark, without_nonce = self._site_policy()
        if CSP_HEADER not in response:
            response[CSP_HEADER] = with_mark.replace(self._NONCE_MARK, nonce) if nonce else without_nonce
        if nonce is None:  # as django-csp: a nonce read after the header was written would not be in it
            request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


# Set on a response by django-csp's view decorators (csp_exempt, csp_update, csp_replace, csp).
_CSP_VIEW_ATTRIBUTES = ("_csp_exempt", "_csp_exempt_ro", "_csp_config", "_csp_update", "_csp_replace",
                        "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")


class CommonMiddleware(_OnTheLoop, _CommonMiddleware):
    """User-agent check, APPEND_SLASH (a URL resolve, in memory), Content-Length."""


class LocaleMiddleware(_OnTheLoop, _LocaleMiddleware):
    """Django's language choice (cookie, then Accept-Language), on the loop: it reads headers only.

    A signed-in member's own choice lives in their profile; logging in copies it into the language
    cookie (`request.language_cookie`, set by blog.signals on login), so no request reads the
    database for it."""

    def process_response(self, request, response):
        response = super().process_response(request, response)
        chosen = getattr(request, "language_cookie", None)
        if chosen:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, chosen, max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response


class XFrameOptionsMiddleware(_OnTheLoop, _XFrameOptionsMiddleware):
    """One header."""


class AuthenticationMiddleware(_OnTheLoop, _AuthenticationMiddleware):
    """Sets the lazy `request.user` / `request.auser`; nothing is loaded until a view asks."""


class SessionMiddleware(_OnTheLoop, _SessionMiddleware):
    """Creating the lazy session store is free; saving a modified session goes to the database (thread)."""

    def _response_may_block(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(_OnTheLoop, _MessageMiddleware):
    """Creating the storage is free; storing messages may write the session (thread)."""

    def _response_may_block(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(_OnTheLoop, _CsrfViewMiddleware):
    """The cookie-based token is headers only; with CSRF_USE_SESSIONS it is the session (thread)."""

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode:
            # Django wraps a sync process_view in sync_to_async; an async one it awaits as is.
            self.process_view = self._process_view_async

    def _request_may_block(self, request) -> bool:
        return settings.CSRF_USE_SESSIONS

    def _response_may_block(self, request, response) -> bool:
        return settings.CSRF_USE_SESSIONS

    async def _process_view_async(self, request, callback, callback_args, callback_kwargs):
        view_check = super().process_view
        if request.method in SAFE_METHODS and not settings.CSRF_USE_SESSIONS:
            return view_check(request, callback, callback_args, callback_kwargs)
        # An unsafe request: the check may read the request body (request.POST) from a spooled file.
        return await sync_to_async(view_check, thread_sensitive=True)(request, callback, callback_args, callback_kwargs)


class WhiteNoiseMiddleware(_WhiteNoiseMiddleware):
    """WhiteNoise with an async mode: pages go straight on; a static file is served in a thread.

    With DEBUG on (`autorefresh`) finding the file touches the disk too, so the lookup also runs there.
    It uses WhiteNoise's own `files`, `find_file`, `serve`, `autorefresh`, `use_finders`,
    `static_prefix` and `directories` (whitenoise 6.12, pinned): check them when upgrading, or drop
    this class if WhiteNoise gains an async mode of its own.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    def _static_response(self, request):
        """WhiteNoise's response for a static file, or None (blocking: the file system)."""
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        return None if static_file is None else self.serve(static_file, request)

    def _may_be_static(self, url: str) -> bool:
        """Whether an autorefresh lookup could find `url` (a few prefix tests, no disk)."""
        return (self.use_finders and url.startswith(self.static_prefix)) or any(
            url.startswith(prefix) for _root, prefix in self.directories)

    async def __acall__(self, request):
        if self.autorefresh:
            if not self._may_be_static(request.path_info):
                return await self.get_response(request)
            response = await sync_to_async(self._static_response, thread_sensitive=False)(request)
        else:
            static_file = self.files.get(request.path_info)  # a dict built at start-up
            response = None if static_file is None else await sync_to_async(
                self.serve, thread_sensitive=False)(static_file, request)
        if response is not None:
            return response
        return await self.get_response(request)
