"""Websocket helpers shared by the benchmarks' clients (no side effects on import: client processes
use it without the private Redis that `_setup` starts)."""

from __future__ import annotations

import asyncio
import time


async def frames_until(ws, deadline: float):
    """Each message `ws` receives before `deadline` (a time.time()), with the time it arrived."""
    while time.time() < deadline:
        try:
            message = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.time()))
        except TimeoutError:
            return
        yield time.time(), message
