"""Process-local fan-out of channel-layer group messages to websocket consumers.

Why: with 1,000 watchers of one task, the stock path (every consumer joins the group itself; the
layer copies each message into 1,000 queues; each consumer dispatches it) made daphne spend a whole
core and fall seconds behind at 10 updates a second, because every message is written to every
socket however far behind the process is (docs/benchmarks.md has the figures).

Here each daphne process subscribes once per group on one channel of its own, and a delivery loop
hands each message to the local consumers of that group. While a delivery round is running, newer
messages with the same key (one task's updates to one group) replace older pending ones: every
message is a full snapshot, so watchers get the latest state as fast as the process can write it,
and a backlog cannot build. Messages without a key are never coalesced; order between keys is kept.

Consumers call `await fanout().join(group, self)` / `leave(...)` and implement `deliver(message)`.
Messages come from dashboard.live.publisher, which adds "group" and "key" to each one.

Redis can go away. The fan-out then keeps its members (joining never fails: the page gets its
snapshot from the database), and tells them it is not live (`live_changed(False)`): their pages say
so instead of pretending. A probe, sent through Redis to the fan-out itself every few seconds,
proves the whole path works again; then every group is subscribed again and each member is told
`live_changed(True)`, on which it re-sends its snapshot: nothing published during the outage is
missed for long. The probe also catches a subscription that died silently.

Groups that carry HTML are per language (contract.localized). The fan-out records the languages of
the groups it has members in (dashboard.live.languages): when such a group is first joined, before
the joining consumer reads its snapshot, and again every probe round, so publishers render only for
languages someone reads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

from dashboard.live.contract import PROBE, language_of
from dashboard.live.languages import languages_client, languages_mark, mark_seconds
from site_config.ops.metrics import LIVE_DELIVERY_SECONDS

logger = logging.getLogger(__name__)

#: How many consumers receive a message before the delivery loop yields to let newer messages in.
YIELD_EVERY = 25


class GroupFanout:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.members: dict[str, set] = {}
        self.channel: str | None = None
        self.live: bool | None = None  # None until the first probe: subscribed, and it came back
        self._subscribed: set[str] = set()
        self._pending: dict[tuple, dict] = {}
        self._wake = asyncio.Event()
        self._start_lock = asyncio.Lock()
        # Subscribing and unsubscribing one at a time, each deciding on the members as they are when
        # it runs: the last watcher of a page leaving while the next one joins (a table swapped by
        # htmx reconnects its socket) would otherwise race a group_discard against a group_add, and
        # the discard landing last left the process deaf to the group it still had a watcher for.
        self._subscription_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._unique = itertools.count()
        self._probe_group = f"fanout-probe.{uuid.uuid4().hex}"
        self._probe_sent = 0
        self._probe_seen = 0
        self._redis = None
        self._marked: dict[str, float] = {}  # language -> when this process last recorded it

    async def _mark(self, languages: set[str]) -> None:
        """Record these languages as watched; a Redis error is logged, never raised (the default
        language is rendered while the record cannot be written or read)."""
        if not languages:
            return
        if self._redis is None:
            self._redis = languages_client()
        try:
            await languages_mark(self._redis, languages)
        except Exception:
            logger.debug("could not record the watched languages", exc_info=True)
            return
        now = time.monotonic()
        for language in languages:
            self._marked[language] = now

    async def join(self, group: str, consumer) -> None:
        """Add a member; never raises for Redis: the member is told `live_changed(False)` instead."""
        members = self.members.setdefault(group, set())
        members.add(consumer)
        self._start_background()
        language = language_of(group)
        # Not while Redis is known to be away: the page gets its snapshot without waiting for it.
        if language is not None and self.live is not False and time.monotonic() - self._marked.get(language, float("-inf")) > mark_seconds() / 3:
            await self._mark({language})
        async with self._subscription_lock:
            if self.channel is not None and group in self.members and group not in self._subscribed:
                try:
                    await self.layer.group_add(group, self.channel)
                    self._subscribed.add(group)
                except Exception as error:
                    self._lost(error)

    async def leave(self, group: str, consumer) -> None:
        members = self.members.get(group)
        if not members:
            return
        members.discard(consumer)
        if not members:
            del self.members[group]
        async with self._subscription_lock:
            if group not in self.members and group in self._subscribed:
                self._subscribed.discard(group)
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:
                    logger.debug("group_discard failed while Redis is away", exc_info=True)

    def _start_background(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._deliver_loop()), asyncio.create_task(self._watch_loop())]

    async def _connect(self) -> bool:
        """Make sure there is a channel, every group is subscribed and a probe comes back."""
        try:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="fanout.")
                self._tasks.append(asyncio.create_task(self._receive_loop()))
            async with self._subscription_lock:
                for group in [self._probe_group, *self.members]:
                    if group not in self._subscribed:
                        await self.layer.group_add(group, self.channel)
                        self._subscribed.add(group)
            self._probe_sent += 1
            await self.layer.group_send(self._probe_group, {"type": PROBE, "group": self._probe_group,
                                                            "key": None, "n": self._probe_sent})
        except Exception as error:
            self._lost(error)
            return False
        deadline = time.monotonic() + settings.LIVE_PROBE_TIMEOUT
        while self._probe_seen < self._probe_sent and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self._probe_seen >= self._probe_sent

    async def _watch_loop(self) -> None:
        while True:
            ok = await self._connect()
            await self._mark({language for group in self.members if (language := language_of(group))})
            if ok and not self.live:
                was, self.live = self.live, True
                if was is False:
                    logger.info("fan-out subscribed again: live")
                    await self._tell_members(True)
            elif not ok and self.live:
                self._lost(TimeoutError("probe did not come back"))
            if not self.live and not any(self.members.values()):
                await asyncio.sleep(settings.LIVE_PROBE_INTERVAL)
                continue
            await asyncio.sleep(settings.LIVE_PROBE_INTERVAL if self.live else min(1.0, settings.LIVE_PROBE_INTERVAL))

    def _lost(self, error: Exception) -> None:
        # The layer's own connection re-subscribes what it knew; groups joined while it was away
        # are subscribed again by `_connect`.
        self._subscribed.clear()
        if self.live is not False:
            self.live = False
            logger.warning("fan-out lost its channel-layer subscription (%s); pages say not live", error)
            asyncio.get_running_loop().create_task(self._tell_members(False))

    async def _tell_members(self, live: bool) -> None:
        consumers = {consumer for members in self.members.values() for consumer in members}
        for count, consumer in enumerate(consumers, 1):
            try:
                await consumer.live_changed(live)
            except Exception:
                logger.warning("telling a consumer about the live state failed", exc_info=True)
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis gone: the layer reconnects; the watch loop notices.
                self._lost(error)
                await asyncio.sleep(1)
                continue
            group = message.get("group")
            if group is None:
                logger.warning("dropping a message without a group: %s", message.get("type"))
                continue
            if group == self._probe_group:
                self._probe_seen = max(self._probe_seen, int(message.get("n") or 0))
                continue
            key = message.get("key")
            slot = (group, key if key is not None else ("unique", next(self._unique)))
            self._pending[slot] = message
            self._wake.set()

    async def _deliver_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                slot = next(iter(self._pending))
                message = self._pending.pop(slot)
                consumers = list(self.members.get(slot[0], ()))
                for count, consumer in enumerate(consumers, 1):
                    try:
                        await consumer.deliver(message)
                    except Exception:
                        logger.warning("delivery to a consumer failed", exc_info=True)
                    if count % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                if consumers and "sent_at" in message:
                    # Once per message and process, when its last local watcher has it: the slowest.
                    LIVE_DELIVERY_SECONDS.observe(max(0.0, time.time() - message["sent_at"]))


_fanouts: dict[asyncio.AbstractEventLoop, GroupFanout] = {}


def fanout() -> GroupFanout:
    """The fan-out of the running event loop (one per daphne process in practice)."""
    loop = asyncio.get_running_loop()
    hub = _fanouts.get(loop)
    if hub is None:
        hub = _fanouts[loop] = GroupFanout()
    return hub
