"""The base websocket consumers of every live page.

`LiveConsumer` authorises in connect() before joining any group, then sends a snapshot read from
the database, so a page that (re)connects after a network drop or a Redis restart shows the truth;
pushed updates follow. `PolledConsumer` serves pages whose fragment comes from a process-local
poller instead of group messages. Each feature's consumers (task pages, the moderation queue) are
subclasses in that feature's package.

Pushed messages are pre-rendered HTML (rendered by the sender once per language someone watches
in, never per watcher). A consumer reads its connection's language from the handshake (the language
cookie, then Accept-Language), joins each group's group for that language (contract.localized) and
renders its snapshot and anything else it renders itself in that language. When the
process cannot keep up, intermediate updates of the same task are coalesced (dashboard.live.fanout):
the newest state replaces an unsent older one; a final state is never dropped, as nothing newer
follows it.

A socket ends when its right ends. Each consumer also joins its user's group (contract.user_group;
one subscription per user per process, like every group of the fan-out), where
dashboard.live.rights announces a logout (that session's sockets close with 4403) and any change
that may take a right away (the sockets re-authorise as a new connection would: 4403 when refused,
else 1012 so the page reconnects and is served what it may now see). A socket also lives at most
WS_MAX_AGE_SECONDS, then closes with 1012 and the reconnect is authorised afresh: that bounds what
no signal reports (a queryset update, a session deleted in the database). The htmx ws extension
reconnects after 1012 and not after 4403; static/js/site.js then says "signed out". None of this
adds work to the delivery of task updates: the checks run only when a user's message arrives.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from functools import cache
from importlib import import_module

from channels.auth import get_user
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import translation

from dashboard.live.contract import (
    POLL_UPDATE,
    USER_RIGHTS_CHANGED,
    USER_SIGNED_OUT,
    handler_name,
    localized,
    session_tag,
    user_group,
)
from dashboard.live.fanout import fanout
from dashboard.live.languages import connection_language
from dashboard.live.poller import poller
from site_config.machinery.rate_limit import connection_lease_release, connection_lease_take
from site_config.machinery.staff import is_active_staff
from site_config.ops.metrics import WEBSOCKETS_OPEN


@cache
def live_state_html(live: bool, language: str) -> str:
    """The fragment that swaps a page's live indicator (id "live-state") for this state."""
    with translation.override(language):
        return render_to_string("dashboard/live/_state.html", {"live": live, "oob": True})


# Close code for a refused connection or a right that ended (4000-4999 are for applications); a
# refusal before accept() also makes daphne answer the handshake with HTTP 403. The htmx ws
# extension does not reconnect after it.
CLOSE_FORBIDDEN = 4403
# "Service restart": the htmx ws extension reconnects after it, and the new connection is
# authorised from the session again.
CLOSE_RECONNECT = 1012
# Too many live connections for this account (settings.LIVE_CONNECTIONS_PER_ACCOUNT, counted
# across every web process): accepted, told why, then closed; the extension does not reconnect.
CLOSE_TOO_MANY = 4429
TOO_MANY_REASON = "too many live connections for this account"
# Sockets opened together (after a deploy) would all expire together: each one's maximum age is
# shortened by up to this share, at random, to spread their reconnects.
MAX_AGE_SPREAD = 0.1

logger = logging.getLogger(__name__)


class LiveConsumer(AsyncWebsocketConsumer):
    """Joins groups after `authorize()`, sends `snapshot()` first, then pushed updates.

    Group messages reach consumers through the process-local fan-out (dashboard.live.fanout), which
    subscribes once per group per process and coalesces a task's intermediate updates when the
    process is behind. `deliver()` calls the handler named by the message type (`task.update` ->
    `task_update`), as Channels would, but only for the types in `message_types`: a message is
    data from Redis, and its type must never reach a method it was not meant for (Channels' own
    `websocket_disconnect`, say, or another page's handler inherited from here). Messages that
    arrive while the snapshot is being sent are held and sent right after it (latest per key).
    """

    groups_to_join: list[str] = []
    # The message types this consumer handles (dashboard.live.contract); each subclass names its own.
    # The user-group messages every socket obeys (a right that ended); subclasses add their own.
    message_types: frozenset[str] = frozenset({USER_SIGNED_OUT, USER_RIGHTS_CHANGED})
    # No channel of its own: the fan-out hands messages to `deliver()`. With the default alias
    # Channels would SUBSCRIBE one Redis channel per socket that nothing ever sends to, and a socket
    # opened while Redis is down would fail with an exception instead of a snapshot from the database.
    channel_layer_alias = "unused"

    async def connect(self) -> None:
        self._ready = False
        self._held: dict = {}
        self._joined: list[str] = []
        self._expiry: asyncio.TimerHandle | None = None
        self._ending: asyncio.Task | None = None
        self.language = connection_language(self.scope)
        # This consumer's own rendering (snapshot, bars) runs in its task's context: in its language.
        translation.activate(self.language)
        user = self.scope.get("user")
        hub = fanout()
        if user is not None and user.is_authenticated:
            # Joined before authorising, so a change made while this socket is being authorised
            # still reaches it (held until the snapshot is sent, like any message).
            self._user_id = user.pk
            session = self.scope.get("session")
            self._session_tag = session_tag(session.session_key) if session is not None else None
            await hub.join(user_group(user.pk), self)
            self._joined.append(user_group(user.pk))
        self._staff = is_active_staff(user)
        try:
            await self.authorize()
        except (PermissionDenied, Http404):
            await self._stop_updates()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if user is not None and user.is_authenticated:
            lease = uuid.uuid4().hex
            if not await connection_lease_take(user_id=user.pk, lease_id=lease, seconds=settings.WS_MAX_AGE_SECONDS):
                await self._stop_updates()
                await self.accept()
                await self.close(code=CLOSE_TOO_MANY, reason=TOO_MANY_REASON)
                return
            self._lease = lease
        for group in self.groups_to_join:
            group = localized(group, self.language)
            await hub.join(group, self)
            self._joined.append(group)
        await self.accept()
        max_age = settings.WS_MAX_AGE_SECONDS * (1 - random.uniform(0, MAX_AGE_SPREAD))
        self._expiry = asyncio.get_running_loop().call_later(max_age, self._end_soon, CLOSE_RECONNECT)
        self._counted = True
        WEBSOCKETS_OPEN.add(1)
        await self.send(text_data=await self.snapshot())
        if hub.live is False:
            await self.send(text_data=live_state_html(False, self.language))
        self._ready = True
        held, self._held = self._held, {}
        for message in held.values():
            await self._dispatch_update(message)

    async def disconnect(self, code: int) -> None:
        ending = getattr(self, "_ending", None)
        if ending is not None and not ending.done():
            ending.cancel()  # the client left first: nothing to close
        await self._stop_updates()

    async def _stop_updates(self) -> None:
        """Receive nothing more: leave every group (and, in subclasses, every other source)."""
        self._ready = False
        if getattr(self, "_expiry", None) is not None:
            self._expiry.cancel()
        if getattr(self, "_counted", False):
            self._counted = False
            WEBSOCKETS_OPEN.add(-1)
        lease, self._lease = getattr(self, "_lease", None), None
        if lease is not None:
            await connection_lease_release(user_id=self._user_id, lease_id=lease)
        hub = fanout()
        joined, self._joined = getattr(self, "_joined", []), []
        for group in joined:
            await hub.leave(group, self)

    # --- the end of a right -------------------------------------------------------------------

    async def user_signed_out(self, event: dict) -> None:
        """A session of this socket's user ended (logout): its sockets close; other sessions' stay."""
        if event.get("session") == getattr(self, "_session_tag", None):
            self._end_soon(CLOSE_FORBIDDEN)

    async def user_rights_changed(self, event: dict) -> None:
        """The user's status, password, groups or permissions changed: authorise again."""
        self._end_soon(None)

    def _end_soon(self, code: int | None) -> None:
        # In a task of its own: this runs inside the fan-out's delivery loop (or a timer), which must
        # not wait for the database or Redis on behalf of one socket.
        if self._ending is None:
            self._ending = asyncio.create_task(self._end(code))

    async def _end(self, code: int | None) -> None:
        """Close with `code`; None: with CLOSE_RECONNECT if a new connection would be authorised
        now, else CLOSE_FORBIDDEN."""
        await self._stop_updates()
        if code is None:
            code = CLOSE_RECONNECT if await self._authorized_again() else CLOSE_FORBIDDEN
        await self.close(code=code)

    async def _authorized_again(self) -> bool:
        """The checks of a new connection: the user read from the session again (the password and the
        session still valid, the account active), then authorize() with that user."""
        session = self.scope.get("session")
        if session is None or not session.session_key:
            return False
        # A new store for the same key: the scope's one keeps what it read at connect.
        user = await get_user({"session": import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)})
        if not user.is_authenticated or user.pk != getattr(self, "_user_id", None):
            return False
        self.scope["user"] = user
        self._staff = is_active_staff(user)
        try:
            await self.authorize()
        except (PermissionDenied, Http404):
            return False
        return True

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients only listen; anything they send is ignored."""

    async def live_changed(self, live: bool) -> None:
        """The fan-out lost or regained Redis: say so; once back, re-send the snapshot, since
        whatever was published meanwhile never arrived."""
        if not getattr(self, "_ready", False):
            return
        if live:
            # Called from the fan-out's task, whose context is not this consumer's.
            with translation.override(self.language):
                html = await self.snapshot()
            await self.send(text_data=html)
        await self.send(text_data=live_state_html(live, self.language))

    async def authorize(self) -> None:
        raise NotImplementedError

    async def snapshot(self) -> str:
        raise NotImplementedError

    async def deliver(self, message: dict) -> None:
        if not self._ready:
            self._held[message.get("key") or id(message)] = message
            return
        # Not through `_dispatch_update`: this runs once per watcher and message (a thousand times per
        # update of a task a thousand people watch), and a coroutine fewer is a frame fewer each time.
        handler = self._handler_for(message)
        if handler is not None:
            await handler(message)

    async def _dispatch_update(self, message: dict) -> None:
        handler = self._handler_for(message)
        if handler is not None:
            await handler(message)

    def _handler_for(self, message: dict):
        """The handler of the message's type when this consumer accepts the type, else None (logged)."""
        kind = message.get("type")
        if kind not in self.message_types:
            logger.warning("%s ignored a message of type %r", type(self).__name__, kind)
            return None
        return getattr(self, handler_name(kind))

    async def task_update(self, event: dict) -> None:
        html = event.get("html_staff") if self._staff and "html_staff" in event else event["html"]
        await self.send(text_data=html)


@cache
def _in_language(produce: Callable[[], str], language: str) -> Callable[[], str]:
    def produce_in_language() -> str:
        with translation.override(language):
            return produce()
    return produce_in_language


class PolledConsumer(LiveConsumer):
    """Staff only; the snapshot and the updates come from one process-local poller (dashboard.live.poller)
    that runs while anyone watches, so the expensive part runs once per interval, not per watcher.

    One class for every polled page, given its data in the route:
    `PolledConsumer.as_asgi(poller_name=..., produce=..., interval=...)`, where `produce()` returns
    the fragment for every watcher (sync; it runs in a thread, never on the event loop) and
    `interval()` says how often to poll, in seconds (called at connect, so it may read settings).
    """

    message_types = LiveConsumer.message_types | {POLL_UPDATE}

    def __init__(self, *args, poller_name: str, produce: Callable[[], str], interval: Callable[[], float], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poller_name = poller_name
        self.produce = produce
        self.interval = interval

    def _poller(self):
        # One poller per page and language watched in this process: each renders in its language.
        return poller(f"{self.poller_name}.{self.language}", _in_language(self.produce, self.language),
                      interval=self.interval())

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied

    async def snapshot(self) -> str:
        hub = self._poller()
        await hub.watch(self)
        self._watching = hub
        return await hub.current()

    async def _stop_updates(self) -> None:
        hub = getattr(self, "_watching", None)
        if hub is not None:
            self._watching = None
            await hub.unwatch(self)
        await super()._stop_updates()

    async def poll_update(self, event: dict) -> None:
        await self.send(text_data=event["html"])
