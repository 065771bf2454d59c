"""The base websocket consumers of every live page.

`LiveConsumer` authorises in connect() before joining any group, then sends a snapshot read from
the database, so a page that (re)connects after a network drop or a Redis restart shows the truth;
pushed updates follow. `PolledConsumer` serves pages whose fragment comes from a process-local
poller instead of group messages. Each feature's consumers (task pages, the moderation queue) are
subclasses in that feature's package.

Pushed messages are pre-rendered HTML (rendered once by the sender, never per watcher). When the
process cannot keep up, intermediate updates of the same task are coalesced (dashboard.live.fanout):
the newest state replaces an unsent older one; a final state is never dropped, as nothing newer
follows it.
"""

from __future__ import annotations

from collections.abc import Callable

from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from dashboard.live.contract import handler_name
from dashboard.live.fanout import fanout
from dashboard.live.poller import poller
from dashboard.monitor.access import can_view_all_tasks
from ops.metrics import WEBSOCKETS_OPEN

# Close codes for refused connections (4000-4999 are for applications); a refusal before accept()
# also makes daphne answer the handshake with HTTP 403.
CLOSE_FORBIDDEN = 4403


class LiveConsumer(AsyncWebsocketConsumer):
    """Joins groups after `authorize()`, sends `snapshot()` first, then pushed updates.

    Group messages reach consumers through the process-local fan-out (dashboard.live.fanout), which
    subscribes once per group per process and coalesces a task's intermediate updates when the
    process is behind. `deliver()` calls the handler named by the message type (`task.update` ->
    `task_update`), as Channels would. Messages that arrive while the snapshot is being sent are
    held and sent right after it (latest per key).
    """

    groups_to_join: list[str] = []

    async def connect(self) -> None:
        self._ready = False
        self._held: dict = {}
        self._joined: list[str] = []
        self._staff = can_view_all_tasks(self.scope.get("user"))
        try:
            await self.authorize()
        except (PermissionDenied, Http404):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        hub = fanout()
        for group in self.groups_to_join:
            await hub.join(group, self)
            self._joined.append(group)
        await self.accept()
        self._counted = True
        WEBSOCKETS_OPEN.add(1)
        await self.send(text_data=await self.snapshot())
        self._ready = True
        held, self._held = self._held, {}
        for message in held.values():
            await self._dispatch_update(message)

    async def disconnect(self, code: int) -> None:
        self._ready = False
        if getattr(self, "_counted", False):
            self._counted = False
            WEBSOCKETS_OPEN.add(-1)
        hub = fanout()
        for group in getattr(self, "_joined", ()):
            await hub.leave(group, self)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients only listen; anything they send is ignored."""

    async def authorize(self) -> None:
        raise NotImplementedError

    async def snapshot(self) -> str:
        raise NotImplementedError

    async def deliver(self, message: dict) -> None:
        if not self._ready:
            self._held[message.get("key") or id(message)] = message
            return
        await self._dispatch_update(message)

    async def _dispatch_update(self, message: dict) -> None:
        handler = getattr(self, handler_name(message["type"]), None)
        if handler is not None:
            await handler(message)

    async def task_update(self, event: dict) -> None:
        html = event.get("html_staff") if self._staff and "html_staff" in event else event["html"]
        await self.send(text_data=html)


class PolledConsumer(LiveConsumer):
    """Staff only; the snapshot and the updates come from one process-local poller (dashboard.live.poller)
    that runs while anyone watches, so the expensive part runs once per interval, not per watcher.

    One class for every polled page, given its data in the route:
    `PolledConsumer.as_asgi(poller_name=..., produce=..., interval=...)`, where `produce()` returns
    the fragment for every watcher (sync; it runs in a thread, never on the event loop) and
    `interval()` says how often to poll, in seconds (called at connect, so it may read settings).
    """

    def __init__(self, *args, poller_name: str, produce: Callable[[], str], interval: Callable[[], float], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poller_name = poller_name
        self.produce = produce
        self.interval = interval

    def _poller(self):
        return poller(self.poller_name, self.produce, interval=self.interval())

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied

    async def snapshot(self) -> str:
        hub = self._poller()
        await hub.watch(self)
        self._watching = hub
        return await hub.current()

    async def disconnect(self, code: int) -> None:
        hub = getattr(self, "_watching", None)
        if hub is not None:
            await hub.unwatch(self)
        await super().disconnect(code)

    async def poll_update(self, event: dict) -> None:
        await self.send(text_data=event["html"])
