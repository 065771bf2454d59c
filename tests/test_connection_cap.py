"""One account holds at most LIVE_CONNECTIONS_PER_ACCOUNT websockets, event streams and long polls at
once, counted across every web process (two real daphnes, one Redis): one more websocket closes
with 4429, one more stream answers 429, and a place comes back when a connection ends."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult
from websockets.exceptions import ConnectionClosed

from dashboard.models import TaskLaunch
from tests.conftest import make_user, session_cookie, start_daphne
from tests.livetools import ws_connect

pytestmark = pytest.mark.live
TOO_MANY = 4429


@pytest.fixture(scope="module")
def two_webs(django_db_setup):
    env = {"LIVE_CONNECTIONS_PER_ACCOUNT": "2"}
    first, second = start_daphne("daphne-cap-1", env=env), start_daphne("daphne-cap-2", env=env)
    yield first, second
    first.stop()
    second.stop()


def _closed_with(ws, timeout: float = 10.0) -> int | None:
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    except TimeoutError:
        return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


def _wait(server, path: str, cookie: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.url}{path}", headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_account_cannot_hold_more_live_connections_than_its_cap_across_processes(two_webs, transactional_db):
    first, second = two_webs
    bob, carol = make_user("bob"), make_user("carol")
    TaskResult.objects.create(task_id="bobs-task", task_name="dashboard.tasks.demo_job_task", status="STARTED",
                              date_done=timezone.now())
    TaskLaunch.objects.create(task_id="bobs-task", launched_by=bob)
    cookie = session_cookie(bob)
    with ws_connect(first, "/ws/my-tasks/", cookie) as one, ws_connect(second, "/ws/my-tasks/", cookie) as two:
        one.recv(timeout=10)
        two.recv(timeout=10)  # both accepted, snapshots sent
        with ws_connect(first, "/ws/my-tasks/", cookie) as three:
            assert _closed_with(three) == TOO_MANY
        status, body = _wait(second, "/api/tasks/bobs-task/wait/?timeout=1", cookie)
        assert status == 429 and body["error"]["code"] == "too_many_connections"
        # Another account is not affected.
        with ws_connect(second, "/ws/my-tasks/", session_cookie(carol)) as other:
            other.recv(timeout=10)
    # The places come back when the connections end.
    deadline = time.monotonic() + 10
    while True:
        status, _body = _wait(first, "/api/tasks/bobs-task/wait/?timeout=1", cookie)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200
