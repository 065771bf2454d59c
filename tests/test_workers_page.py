"""/dashboard/workers/ and /ws/workers/ against a real prefork worker, Redis broker and daphne."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from websockets.exceptions import InvalidStatus

from dashboard.tasks import demo_job_task
from dashboard.workers import queues
from dashboard.workers import services as workers
from tests.conftest import session_cookie, start_worker
from tests.livetools import signed_in_as, wait_for, ws_connect
from tests.worker_tasks import gated_demo_job_task

WORKER_STATE = re.compile(r'data-hostname="([^"]+)" data-online="(true|false)"')


@pytest.fixture(autouse=True)
def fresh_snapshot():
    # Each test asks the workers afresh instead of reading a previous test's snapshot.
    cache.delete(workers.SNAPSHOT_KEY)
    yield
    cache.delete(workers.SNAPSHOT_KEY)


def worker_states(html: str) -> dict[str, str]:
    return dict(WORKER_STATE.findall(html))


def queue_length(html: str, queue: str) -> int | None:
    match = re.search(rf'data-queue="{re.escape(queue)}" data-length="(\d+)"', html)
    return int(match.group(1)) if match else None


def workers_page(client) -> str:
    response = client.get("/dashboard/workers/")
    assert response.status_code == 200
    return response.content.decode()


def test_workers_page_lists_the_worker_online_with_pool_and_concurrency(live_worker, client, alice):
    client.force_login(alice)
    html = workers_page(client)
    hostname = next(name for name in worker_states(html) if name.startswith("worker@"))
    assert worker_states(html)[hostname] == "true"
    section = html[html.index(f'data-hostname="{hostname}"'):]
    assert 'class="worker-pool">prefork, concurrency <span class="worker-concurrency">2</span>' in section
    assert "Load average" in section and "Last heartbeat" in section


def test_members_and_anonymous_cannot_open_the_workers_page(transactional_db, client, bob):
    response = client.get("/dashboard/workers/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(bob)
    response = client.get("/dashboard/workers/")
    assert response.status_code == 302


def test_running_task_shows_among_the_workers_active_tasks(live_worker, client, alice, gate):
    client.force_login(alice)
    result = gated_demo_job_task.delay_for(alice, 1, 0, gate_key=gate.key)  # runs until the test opens the gate

    def page_showing_it_active():
        html = workers_page(client)
        return html if f'class="active-task" data-task-id="{result.id}"' in html else None

    html = wait_for(page_showing_it_active, timeout=30, interval=0.5)
    assert f'href="/dashboard/tasks/{result.id}/"' in html
    assert "tests.worker_tasks.gated_demo_job_task" in html


def test_queue_length_counts_messages_nobody_consumes(live_worker, client, alice, monkeypatch):
    # A newly declared queue is found within a minute; here at once.
    monkeypatch.setattr(queues, "DECLARED_QUEUES_MAX_AGE", 0)
    client.force_login(alice)
    before = queue_length(workers_page(client), "parked") or 0
    for _ in range(3):
        demo_job_task.apply_async((3, 0), queue="parked")
    wait_for(lambda: queue_length(workers_page(client), "parked") == before + 3, timeout=30, interval=0.5)
    html = workers_page(client)
    row = html[html.index('data-queue="parked"'):]
    assert "no online worker" in row[: row.index("</tr>")]
    assert queue_length(html, "celery") is not None


def test_workers_socket_sends_a_snapshot_first_and_refuses_others(live_worker, daphne_server, alice, bob):
    with ws_connect(daphne_server, "/ws/workers/", session_cookie(alice)) as ws:
        snapshot = ws.recv(timeout=15)
    assert 'id="workers-live"' in snapshot
    assert "true" in [state for name, state in worker_states(snapshot).items() if name.startswith("worker@")]
    member = session_cookie(bob)
    assert signed_in_as(daphne_server, member) == "bob"  # refused as a member, not as a stranger
    for cookie, origin in [(None, None), (member, None), (session_cookie(alice), "http://evil.example")]:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(daphne_server, "/ws/workers/", cookie, origin=origin)
        assert refused.value.response.status_code == 403


def test_stopped_worker_is_shown_offline_with_its_last_seen_time(live_worker, daphne_server, alice):
    extra = start_worker("w2")
    stopped = False
    try:
        with ws_connect(daphne_server, "/ws/workers/", session_cookie(alice)) as ws:
            def w2_state():
                html = ws.recv(timeout=30)
                return next(((name, state, html) for name, state in worker_states(html).items() if name.startswith("w2@")), None)

            wait_for(lambda: (found := w2_state()) and found[1] == "true", timeout=60, interval=0)
            extra.stop()
            stopped = True
            _, _, html = wait_for(lambda: (found := w2_state()) and found[1] == "false" and found, timeout=60, interval=0)
    finally:
        if not stopped:
            extra.stop()
    section = html[html.index('data-hostname="w2@'):]
    assert "Not answering since" in section[: section.index("</section>")]
    assert 'class="last-seen"><time datetime="' in section
