"""A task's progress for clients that cannot use the page's websocket: server-sent events, or a
long poll. Both are plain async views (DRF's are sync): a waiting client holds no thread, only a
place in the process's fan-out (dashboard.live.fanout), the same one the websockets use, so 1,000
followers of a task cost one subscription per process.

- `GET /api/tasks/<id>/events/`: `text/event-stream`. An `event: task` with the task's JSON at once
  and after every change, `event: end` when the task reaches a final state (then the stream closes),
  a `: keep-alive` comment every 15 s. The stream also closes after settings.API_STREAM_MAX_SECONDS:
  EventSource reconnects by itself, and the reconnection is authenticated and authorised again
  (a revoked token stops there).
- `GET /api/tasks/<id>/wait/?version=<v>&timeout=<s>`: answers at once if the task's version differs
  from `v` (or no `v` is given), else when it changes or after `timeout` seconds (1-60, default 25),
  with `{"version", "changed", "task"}`. Loop: pass back the version you got.

While Redis (the channel layer) is down the fan-out cannot tell us about changes; both then read the
task every 2 seconds instead, so a follower is never stuck.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, StreamingHttpResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from rest_framework.exceptions import AuthenticationFailed

from dashboard.api.authentication import bearer_token, user_for_token
from dashboard.api.errors import json_error
from dashboard.api.serializers import TaskSerializer
from dashboard.api.throttling import PerTokenThrottle
from dashboard.live.contract import localized, task_group
from dashboard.live.fanout import fanout
from dashboard.live.store import load_view
from dashboard.monitor.access import ensure_task_visible
from site_config.machinery.rate_limit import connection_lease_release, connection_lease_take

KEEP_ALIVE_SECONDS = 15.0
NOT_LIVE_POLL_SECONDS = 2.0


class _Follower:
    """A fan-out member that only notes that something happened; the view reads the task itself."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self.stamp = None  # the newest message's publish time: which read of the task is fresh enough

    async def deliver(self, message: dict) -> None:
        self.stamp = message.get("sent_at")
        self.changed.set()

    async def live_changed(self, live: bool) -> None:
        self.changed.set()


async def _caller(request):
    """(user, None) or (None, error response): a Bearer token, else the session."""
    try:
        token = bearer_token(request.headers.get("Authorization", "").encode("latin-1"))
        if token is not None:
            user, row = await sync_to_async(user_for_token)(token)
        else:
            user, row = await request.auser(), None
    except AuthenticationFailed as failure:
        return None, json_error(401, "authentication_failed", str(failure.detail),
                                headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if not user.is_authenticated:
        return None, json_error(401, "not_authenticated", gettext("Authentication credentials were not provided."),
                                headers={"WWW-Authenticate": 'Bearer realm="api"'})
    throttle = PerTokenThrottle()
    allowed = await sync_to_async(throttle.allow_request)(SimpleNamespace(user=user, auth=row, META=request.META), None)
    if not allowed:
        wait = throttle.wait()
        return None, json_error(429, "throttled", gettext("Request was throttled."),
                                headers={"Retry-After": str(int(wait or 1) + 1)})
    try:
        await sync_to_async(ensure_task_visible)(user, request.resolver_match.kwargs["task_id"])
    except Http404:
        return None, json_error(404, "not_found", gettext("No such task."))
    return user, None


@sync_to_async
def _load(task_id: str) -> tuple[dict | None, bool]:
    view = load_view(task_id)
    if view is None:
        return None, True
    return TaskSerializer(view).data, view.is_final


# One read per task and message in this process, however many clients follow the task: followers
# woken by the same message (same publish time) share the read started after it arrived, which
# is therefore fresh (the row is written before the message is published).
_reads: dict[tuple, asyncio.Future] = {}


async def _snapshot(task_id: str, stamp=None) -> tuple[dict | None, bool]:
    if stamp is None:  # a first read, or a timed-out wait: nothing to share it with
        return await _load(task_id)
    key = (task_id, stamp)
    read = _reads.get(key)
    if read is None:
        read = _reads[key] = asyncio.ensure_future(_load(task_id))
        read.add_done_callback(lambda _done: _reads.pop(key, None))
    return await asyncio.shield(read)


def _version(data: dict | None) -> str:
    return hashlib.sha256(json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True).encode()).hexdigest()[:16]


async def _wait_for_change(follower: _Follower, timeout: float) -> bool:
    """Wait until the fan-out says something happened (or `timeout`); True if it did. While the
    fan-out is not live, wake at least every NOT_LIVE_POLL_SECONDS to read the task anyway."""
    hub_live = fanout().live is not False
    try:
        await asyncio.wait_for(follower.changed.wait(), timeout if hub_live else min(timeout, NOT_LIVE_POLL_SECONDS))
    except TimeoutError:
        return False
    follower.changed.clear()
    return True


def _change_group(task_id: str) -> str:
    """The group whose messages say the task changed: its page's group in the default language (a
    follower reads the database, not the HTML, so one language is enough; joining it records the
    default language as watched, so updates keep coming while only API clients follow)."""
    return localized(task_group(task_id), settings.LANGUAGE_CODE)


def _too_many():
    return json_error(429, "too_many_connections",
                      f"This account already holds {settings.LIVE_CONNECTIONS_PER_ACCOUNT} live connections "
                      "(websockets, event streams, long polls); close one first.")


@require_GET
async def task_events(request, task_id: str):
    user, refusal = await _caller(request)
    if refusal is not None:
        return refusal
    lease = uuid.uuid4().hex
    if not await connection_lease_take(user_id=user.pk, lease_id=lease, seconds=settings.API_STREAM_MAX_SECONDS):
        return _too_many()
    response = StreamingHttpResponse(_event_stream(task_id, user.pk, lease), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


async def _event_stream(task_id: str, user_id: int, lease: str):
    follower, group, hub = _Follower(), _change_group(task_id), fanout()
    try:
        await hub.join(group, follower)  # before the first read, so no change falls between the two
        yield f"retry: 3000\n: following task {task_id}\n\n"
        deadline = time.monotonic() + settings.API_STREAM_MAX_SECONDS
        sent_version, number = None, 0
        while True:
            data, final = await _snapshot(task_id, follower.stamp)
            version = _version(data)
            if version != sent_version:
                number += 1
                yield f"event: task\nid: {number}\ndata: {json.dumps(data, cls=DjangoJSONEncoder)}\n\n"
                sent_version = version
            if final:
                yield "event: end\ndata: {}\n\n"
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                yield ": the stream ends here; reconnect to go on following\n\n"
                return
            if not await _wait_for_change(follower, min(KEEP_ALIVE_SECONDS, remaining)):
                yield ": keep-alive\n\n"
    finally:
        await hub.leave(group, follower)
        await connection_lease_release(user_id=user_id, lease_id=lease)


@require_GET
async def task_wait(request, task_id: str):
    user, refusal = await _caller(request)
    if refusal is not None:
        return refusal
    raw_timeout = request.GET.get("timeout", "25")
    if not raw_timeout.isdigit() or not 1 <= int(raw_timeout) <= 60:
        return json_error(400, "invalid", gettext("Some fields are not valid: %(fields)s.") % {"fields": "timeout"},
                          {"timeout": [gettext("Whole seconds from 1 to 60.")]})
    since = request.GET.get("version", "")
    lease = uuid.uuid4().hex
    if not await connection_lease_take(user_id=user.pk, lease_id=lease, seconds=int(raw_timeout)):
        return _too_many()
    follower, group, hub = _Follower(), _change_group(task_id), fanout()
    try:
        await hub.join(group, follower)
        deadline = time.monotonic() + int(raw_timeout)
        while True:
            data, final = await _snapshot(task_id, follower.stamp)
            version = _version(data)
            remaining = deadline - time.monotonic()
            if version != since or final or remaining <= 0:
                break
            await _wait_for_change(follower, remaining)
    finally:
        await hub.leave(group, follower)
        await connection_lease_release(user_id=user.pk, lease_id=lease)
    from django.http import JsonResponse

    response = JsonResponse({"version": version, "changed": version != since, "task": data}, encoder=DjangoJSONEncoder)
    response["Cache-Control"] = "no-store"
    return response
