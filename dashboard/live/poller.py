"""Process-local pollers: one periodic, blocking producer per daphne process, shared by its watchers.

Why: some live pages show figures that are expensive to produce and the same for every watcher
(Celery's `inspect()` waits for worker replies for a second; chart aggregates scan an index). Doing
that per websocket would multiply the cost by the number of watchers, and doing it on daphne's event
loop would freeze every other socket while it waits.

A `Poller` runs its `produce()` (a plain synchronous function returning the HTML to push) in a worker
thread (`thread_sensitive=False`, so it never occupies the single thread that the other consumers'
database calls share), only while at least one watcher is connected, at most once per `interval`.
The result is rendered once and handed to each local watcher's `deliver()` (the same interface as
dashboard.live.fanout), only when it changed. A watcher's snapshot comes from `current()`, which
returns the latest result when fresh, or joins the poll already running instead of starting another.

Consumers: `await poller.watch(self)` / `await poller.unwatch(self)`; `html = await poller.current()`.
The messages have type `poll.update` (handler `poll_update`) and carry "html" and "key".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from dashboard.live.contract import POLL_UPDATE

logger = logging.getLogger(__name__)


class Poller:
    """`clock` and `sleep` are time.monotonic and asyncio.sleep; tests pass a clock they move by
    hand, so "once per interval" is checked exactly instead of by counting polls in real time."""

    def __init__(self, name: str, produce: Callable[[], str], *, interval: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.name = name
        self.produce = produce
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self.watchers: set = set()
        self.stats: Counter[str] = Counter()
        self._latest: str | None = None
        self._latest_at = float("-inf")
        self._inflight: asyncio.Future | None = None
        self._loop_task: asyncio.Task | None = None
        # database_sync_to_async closes stale connections around the call, as a request would.
        self._produce_in_thread = database_sync_to_async(self._produce, thread_sensitive=False)

    def _produce(self) -> str:
        return self.produce()

    async def watch(self, consumer) -> None:
        self.watchers.add(consumer)
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name=f"poller-{self.name}")

    async def unwatch(self, consumer) -> None:
        self.watchers.discard(consumer)
        if not self.watchers and self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None

    async def current(self) -> str:
        """The latest result if younger than `interval`, else the result of a poll (shared)."""
        if self._latest is not None and self.clock() - self._latest_at < self.interval:
            return self._latest
        return await self._poll()

    async def _poll(self) -> str:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._produce_in_thread())
            self._inflight.add_done_callback(self._finished)
            self.stats["polls"] += 1
        # shield: a watcher that disconnects mid-poll must not cancel the poll the others wait for.
        return await asyncio.shield(self._inflight)

    def _finished(self, future: asyncio.Future) -> None:
        self._inflight = None
        if not future.cancelled() and future.exception() is None:
            self._latest, self._latest_at = future.result(), self.clock()

    async def _run(self) -> None:
        sent = self._latest  # watchers got it as their snapshot
        while self.watchers:
            wait = self._latest_at + self.interval - self.clock()
            if wait > 0:
                await self.sleep(wait)
                continue
            try:
                html = await self._poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("poller %s failed; trying again in %s s", self.name, self.interval, exc_info=True)
                self._latest_at = self.clock()  # back off one interval
                continue
            if sent is None or html == sent:  # the first result was every watcher's snapshot
                sent = html
                continue
            sent = html
            message = {"type": POLL_UPDATE, "html": html, "key": self.name}
            for consumer in list(self.watchers):
                try:
                    await consumer.deliver(message)
                    self.stats["deliveries"] += 1
                except Exception:
                    logger.warning("delivery to a consumer failed", exc_info=True)


_pollers: dict[tuple[asyncio.AbstractEventLoop, str], Poller] = {}


def poller(name: str, produce: Callable[[], str], *, interval: float) -> Poller:
    """The poller called `name` of the running event loop (one per daphne process in practice)."""
    slot = (asyncio.get_running_loop(), name)
    found = _pollers.get(slot)
    if found is None:
        found = _pollers[slot] = Poller(name, produce, interval=interval)
    return found
