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
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from channels.layers import get_channel_layer

from ops.metrics import LIVE_DELIVERY_SECONDS

logger = logging.getLogger(__name__)

#: How many consumers receive a message before the delivery loop yields to let newer messages in.
YIELD_EVERY = 25


class GroupFanout:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.members: dict[str, set] = {}
        self.channel: str | None = None
        self._pending: dict[tuple, dict] = {}
        self._wake = asyncio.Event()
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._unique = itertools.count()

    async def join(self, group: str, consumer) -> None:
        await self._ensure_started()
        members = self.members.setdefault(group, set())
        first = not members
        members.add(consumer)
        if first:
            await self.layer.group_add(group, self.channel)

    async def leave(self, group: str, consumer) -> None:
        members = self.members.get(group)
        if not members:
            return
        members.discard(consumer)
        if not members:
            del self.members[group]
            await self.layer.group_discard(group, self.channel)

    async def _ensure_started(self) -> None:
        if self.channel is not None:
            return
        async with self._start_lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix="fanout.")
                self._tasks = [asyncio.create_task(self._receive_loop()), asyncio.create_task(self._deliver_loop())]

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis gone: the layer re-subscribes when it is back.
                logger.warning("fan-out receive failed; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            group = message.get("group")
            if group is None:
                logger.warning("dropping a message without a group: %s", message.get("type"))
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
