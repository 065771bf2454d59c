"""Following a task without the websocket: server-sent events and the long poll, against a real
daphne and worker, with a token; and the example client in docs/ run against the live site."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashboard.api.tokens import api_token_create
from dashboard.tasks import demo_job_task
from tests.conftest import grant
from tests.worker_tasks import gated_demo_job_task

BASE_DIR = Path(__file__).resolve().parent.parent


class EventStream:
    """A minimal server-sent-events reader over a real HTTP connection."""

    def __init__(self, base_url: str, path: str, token: str | None, timeout: float = 30.0) -> None:
        parsed = urlparse(base_url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
        headers = {"Accept": "text/event-stream", **({"Authorization": f"Bearer {token}"} if token else {})}
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()

    def next_event(self) -> tuple[str, str]:
        """(event name, data) of the next event; comments are skipped."""
        name, data = "message", []
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("the stream ended")
            line = line.decode().rstrip("\n")
            if not line:
                if data:
                    return name, "\n".join(data)
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def close(self) -> None:
        self.connection.close()


def get_json(base_url: str, path: str, token: str) -> tuple[int, dict]:
    parsed = urlparse(base_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=70)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, body


def test_events_stream_follows_a_members_task_to_the_end(live_worker, daphne_server, bob, gate):
    _row, token = api_token_create(user=bob, name="follow")
    result = gated_demo_job_task.delay_for(bob, 3, 0, gate_key=gate.key)
    stream = EventStream(daphne_server.url, f"/api/tasks/{result.id}/events/", token)
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type").startswith("text/event-stream")
        name, data = stream.next_event()
        assert name == "task" and json.loads(data)["id"] == result.id
        seen = [json.loads(data)]
        gate.open()
        while True:
            name, data = stream.next_event()
            if name == "end":
                break
            seen.append(json.loads(data))
        assert seen[-1]["state"] == "SUCCESS" and seen[-1]["final"] is True
        percents = [task["percent"] for task in seen if task["percent"] is not None]
        assert percents == sorted(percents) and percents[-1] == 100
        with pytest.raises(EOFError):  # the server closes the stream after "end"
            stream.next_event()
    finally:
        stream.close()


def test_long_poll_answers_when_the_task_changes(live_worker, daphne_server, bob, gate):
    _row, token = api_token_create(user=bob, name="poll")
    result = gated_demo_job_task.delay_for(bob, 4, 0, gate_key=gate.key)
    gate.open_to(1)
    path = f"/api/tasks/{result.id}/wait/"
    deadline = time.monotonic() + 30
    status, first = get_json(daphne_server.url, path, token)  # no version: answers at once
    assert status == 200 and first["changed"] is True
    while first["task"]["percent"] != 25:  # wait for step 1 of 4 to be reported
        assert time.monotonic() < deadline, first
        status, first = get_json(daphne_server.url, f"{path}?version={first['version']}&timeout=5", token)
    # The job now waits at its gate: nothing changes until the test lets it finish.
    started = time.monotonic()
    gate.open()
    status, second = get_json(daphne_server.url, f"{path}?version={first['version']}&timeout=30", token)
    assert status == 200 and second["changed"] is True and second["version"] != first["version"]
    assert second["task"]["percent"] > 25
    assert time.monotonic() - started < 25  # answered by the change, not by the timeout


def test_long_poll_times_out_unchanged_with_the_same_version(daphne_server, transactional_db, bob):
    _row, token = api_token_create(user=bob, name="poll")
    result = demo_job_task.apply_async((2, 0), queue="parked-nobody-consumes", headers={"launched_by": bob.pk})
    status, first = get_json(daphne_server.url, f"/api/tasks/{result.id}/wait/", token)
    assert first["task"]["state"] == "PENDING"
    status, again = get_json(daphne_server.url, f"/api/tasks/{result.id}/wait/?version={first['version']}&timeout=1", token)
    assert status == 200 and again == {**first, "changed": False}


def test_streams_refuse_strangers_and_other_members(daphne_server, transactional_db, bob, charlie):
    result = demo_job_task.apply_async((2, 0), queue="parked-nobody-consumes", headers={"launched_by": bob.pk})
    _row, charlies = api_token_create(user=charlie, name="nosy")
    for path in (f"/api/tasks/{result.id}/events/", f"/api/tasks/{result.id}/wait/"):
        stream = EventStream(daphne_server.url, path, charlies)
        assert stream.response.status == 404
        assert json.loads(stream.response.read())["error"]["code"] == "not_found"
        stream.close()
        anonymous = EventStream(daphne_server.url, path, None)
        assert anonymous.response.status == 401
        assert anonymous.response.getheader("WWW-Authenticate") == 'Bearer realm="api"'
        anonymous.close()
    status, body = get_json(daphne_server.url, f"/api/tasks/{result.id}/wait/?timeout=600",
                            api_token_create(user=bob, name="own")[1])
    assert status == 400 and "timeout" in body["error"]["fields"]


def test_example_client_in_docs_starts_a_task_and_follows_it(live_worker, daphne_server, alice):
    grant(alice, "dashboard.start_demo_job")
    _row, token = api_token_create(user=alice, name="example")
    script = BASE_DIR / "docs" / "api_example.py"
    finished = subprocess.run([sys.executable, str(script), "--site", daphne_server.url, "--steps", "3"],
                              env={**os.environ, "API_TOKEN": token}, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr + finished.stdout
    lines = finished.stdout.splitlines()
    assert lines[0].startswith("started ")
    assert any("%" in line for line in lines[1:-1])
    assert lines[-1].startswith("SUCCESS")
