"""Helpers for tests that watch tasks over real websockets."""

from __future__ import annotations

import os
import re
import socket
import time
import urllib.request
import uuid

from django.core.cache import cache
from websockets.sync.client import connect

STATE = re.compile(r'data-state="(\w+)"')
SIGNED_IN_AS = re.compile(r'Signed in as <strong>([^<]+)</strong>')
PERCENT = re.compile(r'class="percent-value">([^<]*)<')


def ws_connect(server, path: str, cookie: str | None = None, origin: str | None = None,
               language: str | None = None):
    """A websocket to daphne; `language`: the handshake's Accept-Language (a browser's "zh-TW")."""
    headers = {"Origin": origin or server.url}
    if cookie:
        headers["Cookie"] = cookie
    if language:
        headers["Accept-Language"] = language
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


class Gate:
    """How far a gated job may go (`gate_key=gate.key`; tests.worker_tasks.wait_at_gate): step N
    starts once the gate stands at N or more. Closed (0) when made, so the job stops right after
    "started" and the test decides when it moves on, however fast or slow the machine is."""

    def __init__(self) -> None:
        self.key = f"test-gate:{uuid.uuid4().hex}"
        self.open_to(0)

    def open_to(self, step: int) -> None:
        cache.set(self.key, step, timeout=3600)

    def open(self) -> None:
        self.open_to(1_000_000_000)


def recv_until_state(ws, wanted: str, timeout: float = 30.0) -> list[str]:
    """Messages received until one shows `wanted` (that one included)."""
    messages = []
    deadline = time.monotonic() + timeout
    while not messages or state_of(messages[-1]) != wanted:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {wanted} within {timeout}s; got states {[state_of(m) for m in messages]}")
        messages.append(ws.recv(timeout=remaining))
    return messages


class ParkedQueue:
    """A queue of its own that the test worker starts consuming only when told, so a task can be
    watched while it is still queued and then seen to start."""

    def __init__(self, worker_name: str = "worker") -> None:
        from site_config.celery import app

        self.app = app
        self.name = f"parked-{uuid.uuid4().hex[:12]}"
        self.worker = worker_hostname(worker_name)

    def start_consuming(self) -> None:
        replies = self.app.control.add_consumer(self.name, destination=[self.worker], reply=True, timeout=10)
        assert replies, f"{self.worker} did not answer add_consumer"

    def stop_consuming(self) -> None:
        self.app.control.cancel_consumer(self.name, destination=[self.worker], reply=True, timeout=10)


def worker_hostname(name: str = "worker") -> str:
    """The node name of a worker that tests.conftest.start_worker started as `name`."""
    return f"{name}@{socket.gethostname()}"


def worker_pid_running(task_id: str, worker_name: str = "worker") -> int | None:
    """The pid of the process running `task_id` now, as the worker started as `worker_name` reports
    it: asked of that worker alone, so the answer comes as soon as it replies."""
    from site_config.celery import app

    active = app.control.inspect(destination=[worker_hostname(worker_name)], timeout=5).active() or {}
    for tasks in active.values():
        for task in tasks:
            if task["id"] == task_id:
                return task.get("worker_pid")
    return None


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def signed_in_as(server, cookie: str | None) -> str | None:
    """Who daphne takes the holder of `cookie` for (the page header says), or None for a visitor.

    A refusal proves little on its own: a member whose session daphne cannot find (never committed,
    say) is refused as an anonymous visitor would be. Tests that refuse a member check this first."""
    request = urllib.request.Request(f"{server.url}/", headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        match = SIGNED_IN_AS.search(response.read().decode())
    return match.group(1) if match else None
