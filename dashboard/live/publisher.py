"""Publish channel-layer group messages from synchronous code (Celery tasks, sync views).

Shared machinery: any app may use it (`from dashboard.live.publisher import publisher`).

Why not `async_to_sync(layer.group_send)` per message: it costs several milliseconds per call (a
new event loop hop each time) and blocks the task while Redis answers. Instead each process runs
one background thread with its own event loop that sends whatever is pending.

Messages may carry a key (one task's updates to one group share a key). While a message waits, a
newer one with the same key replaces it: every message is a full snapshot, so watchers need only the
latest, and a burst of reports can never build a backlog. Order between keys is kept.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from collections.abc import Hashable

from channels.layers import get_channel_layer

from dashboard.live.contract import stamp

logger = logging.getLogger(__name__)

LOG_EVERY = 10.0  # seconds between two warnings about dropped messages


class Publisher:
    def __init__(self) -> None:
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, Hashable], dict] = {}
        self._idle = threading.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._unique = itertools.count()
        self.dropped = 0
        self._logged_at = float("-inf")

    def publish(self, group: str, message: dict, *, key: Hashable = None) -> None:
        """Queue `message` for `group`; returns at once. A pending message with the same key is
        replaced; messages without a key are all delivered, in order."""
        self._ensure_started()
        slot = (group, key if key is not None else ("unique", next(self._unique)))
        # The receiving side (dashboard.live.fanout) routes by group and coalesces by key.
        message = stamp(message, group=group, key=key)
        with self._lock:
            self._pending[slot] = message
            self._idle.clear()
        self._loop.call_soon_threadsafe(self._wake.set)

    def _dropped(self, group: str, error: Exception) -> None:
        """Count a message lost to an outage; say so at most once every LOG_EVERY seconds (an outage
        would otherwise write a traceback per progress report)."""
        self.dropped += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            logger.warning("could not publish to %s (%s: %s); %d message(s) dropped so far, pages catch up "
                           "from the database when they reconnect", group, type(error).__name__, error, self.dropped)
            self._logged_at = now

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has been handed to the channel layer."""
        if self._pid != os.getpid():
            return True
        return self._idle.wait(timeout)

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child (Celery prefork) inherits no running thread: start afresh.
            self._pending = {}
            self._idle = threading.Event()
            self._idle.set()
            self._loop = asyncio.new_event_loop()
            self._wake = asyncio.Event()
            started = threading.Event()
            thread = threading.Thread(target=self._run, args=(started,), name="live-publisher", daemon=True)
            thread.start()
            started.wait()
            self._pid = os.getpid()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(started.set)
        self._loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                with self._lock:
                    if not self._pending:
                        self._idle.set()
                        break
                    batch, self._pending = self._pending, {}
                for (group, _key), message in batch.items():
                    try:
                        await layer.group_send(group, message)
                    except Exception as error:  # Redis down: the database row stays the truth.
                        self._dropped(group, error)


publisher = Publisher()
