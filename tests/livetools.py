"""Helpers for tests that watch tasks over real websockets."""

from __future__ import annotations

import re
import time

from websockets.sync.client import connect

STATE = re.compile(r'data-state="(\w+)"')
PERCENT = re.compile(r'class="percent-value">([^<]*)<')


def ws_connect(server, path: str, cookie: str | None = None, origin: str | None = None):
    headers = {"Origin": origin or server.url}
    if cookie:
        headers["Cookie"] = cookie
    return connect(f"{server.ws_url}{path}", additional_headers=headers, open_timeout=10)


def state_of(html: str) -> str | None:
    match = STATE.search(html)
    return match.group(1) if match else None


def percent_of(html: str) -> str | None:
    match = PERCENT.search(html)
    return match.group(1) if match else None


def collect_until_final(ws, timeout: float = 30.0) -> list[str]:
    """Messages received until one shows a final state (SUCCESS, FAILURE, REVOKED)."""
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no final state within {timeout}s; got states {[state_of(m) for m in messages]}")
        message = ws.recv(timeout=remaining)
        messages.append(message)
        if state_of(message) in ("SUCCESS", "FAILURE", "REVOKED"):
            return messages


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
