"""Worker control from /dashboard/workers/ against real prefork workers, checked through the workers'
own replies and what they report afterwards (inspect stats, active_queues, registered)."""

from __future__ import annotations

import re
import socket
from html import unescape

import pytest
from django.core.cache import cache

from dashboard.models import ControlAction
from dashboard.workers import services as workers
from site_config.celery import app
from tests.conftest import grant, make_user, start_worker
from tests.livetools import wait_for

pytestmark = pytest.mark.live

HOST = socket.gethostname()
ALL_CONTROL = [
    "dashboard.resize_worker_pool", "dashboard.autoscale_workers", "dashboard.change_worker_queues",
    "dashboard.set_task_rate_limit", "dashboard.set_task_time_limit", "dashboard.shut_down_workers",
    "dashboard.restart_worker_pool",
]


@pytest.fixture(autouse=True)
def fresh_snapshot():
    cache.delete(workers.SNAPSHOT_KEY)
    yield
    cache.delete(workers.SNAPSHOT_KEY)


@pytest.fixture(scope="module")
def control_worker(django_db_setup, django_db_blocker):
    """A prefork worker of one process, consuming a queue of its own (so it runs nobody else's tasks),
    that these tests may grow, shrink and reconfigure without disturbing the session's worker."""
    worker = start_worker("control", "--concurrency", "1", "-Q", "control-home")
    worker.hostname = f"control@{HOST}"
    yield worker
    worker.stop()


@pytest.fixture
def operator(transactional_db):
    return grant(make_user("olga", staff=True), *ALL_CONTROL)


def stats_of(hostname: str) -> dict:
    return (app.control.inspect(destination=[hostname], timeout=2).stats() or {}).get(hostname) or {}


def pool_processes(hostname: str) -> list[int]:
    return stats_of(hostname).get("pool", {}).get("processes") or []


def consumed_queues(hostname: str) -> set[str]:
    replies = app.control.inspect(destination=[hostname], timeout=2).active_queues() or {}
    return {queue["name"] for queue in replies.get(hostname) or []}


def registered_line(hostname: str, task: str) -> str:
    replies = app.control.inspect(destination=[hostname], timeout=2).registered("rate_limit", "soft_time_limit", "time_limit") or {}
    return next(line for line in replies.get(hostname) or [] if line.split(" ", 1)[0] == task)


def confirmed(client, kind: str, data: dict):
    """Submit the command's form, check the confirmation page, then confirm; returns the final answer."""
    url = f"/dashboard/workers/control/{kind}/"
    before = ControlAction.objects.count()
    confirmation = client.post(url, data)
    assert confirmation.status_code == 200, confirmation.content.decode()[-2000:]
    assert 'name="confirm" value="yes"' in confirmation.content.decode()
    assert ControlAction.objects.count() == before  # nothing sent before the confirmation
    return client.post(url, {**data, "confirm": "yes"})


def test_pool_grow_and_shrink_change_the_workers_pool_as_it_reports(control_worker, client, operator):
    client.force_login(operator)
    hostname = control_worker.hostname
    assert len(pool_processes(hostname)) == 1
    done = confirmed(client, "pool_grow", {"workers": [hostname], "n": 1})
    assert done.status_code == 302
    action = ControlAction.objects.get(kind="pool_grow")
    assert action.user == operator and action.arguments == {"n": 1} and action.destination == [hostname]
    assert action.replies == {hostname: {"ok": "pool will grow"}}
    wait_for(lambda: len(pool_processes(hostname)) == 2, timeout=20, interval=0.3)
    # The page (and so the next poll) shows the new size.
    page = wait_for(lambda: (html := client.get("/dashboard/workers/").content.decode())
                    and 'data-pool-size="2"' in html[html.index(f'data-hostname="{hostname}"'):] and html, timeout=20)
    assert "pool will grow" in page  # the audit list shows the reply

    confirmed(client, "pool_shrink", {"workers": [hostname], "n": 1})
    assert ControlAction.objects.get(kind="pool_shrink").replies == {hostname: {"ok": "pool will shrink"}}
    wait_for(lambda: len(pool_processes(hostname)) == 1, timeout=20, interval=0.3)


def test_add_and_cancel_consumer_change_the_queues_the_worker_consumes(control_worker, client, operator):
    client.force_login(operator)
    hostname = control_worker.hostname
    confirmed(client, "add_consumer", {"workers": [hostname], "queue": "control-extra"})
    assert ControlAction.objects.get(kind="add_consumer").replies[hostname] == {"ok": "add consumer control-extra"}
    wait_for(lambda: "control-extra" in consumed_queues(hostname), timeout=20, interval=0.3)
    confirmed(client, "cancel_consumer", {"workers": [hostname], "queue": "control-extra"})
    assert ControlAction.objects.get(kind="cancel_consumer").replies[hostname] == {
        "ok": "no longer consuming from control-extra"}
    wait_for(lambda: "control-extra" not in consumed_queues(hostname), timeout=20, interval=0.3)


def test_rate_and_time_limits_are_set_on_the_worker_and_shown_on_the_page(control_worker, client, operator):
    client.force_login(operator)
    hostname = control_worker.hostname
    task = "dashboard.tasks.demo_job_task"
    confirmed(client, "rate_limit", {"workers": [hostname], "task_name": task, "rate_limit": "10/m"})
    assert ControlAction.objects.get(kind="rate_limit").replies[hostname] == {"ok": "new rate limit set successfully"}
    assert "rate_limit=10/m" in registered_line(hostname, task)
    confirmed(client, "time_limit", {"workers": [hostname], "task_name": task, "soft": "30", "hard": "60"})
    assert ControlAction.objects.get(kind="time_limit").replies[hostname] == {"ok": "time limits set successfully"}
    line = registered_line(hostname, task)
    assert "soft_time_limit=30.0" in line and "time_limit=60.0" in line
    html = client.get("/dashboard/workers/").content.decode()
    section = html[html.index(f'data-hostname="{hostname}"'):]
    assert f'data-task-name="{task}" data-rate-limit="10/m" data-soft-time-limit="30.0" data-time-limit="60.0"' in section

    confirmed(client, "rate_limit", {"workers": [hostname], "task_name": task, "rate_limit": ""})
    assert ControlAction.objects.filter(kind="rate_limit").first().replies[hostname] == {
        "ok": "rate limit disabled successfully"}


def test_pool_restart_replaces_the_pool_processes(control_worker, client, operator):
    client.force_login(operator)
    hostname = control_worker.hostname
    before = set(pool_processes(hostname))
    confirmed(client, "pool_restart", {"workers": [hostname]})
    assert ControlAction.objects.get(kind="pool_restart").replies[hostname] == {"ok": "reload started"}
    wait_for(lambda: (now := set(pool_processes(hostname))) and not now & before, timeout=30, interval=0.3)


def test_autoscale_changes_the_range_of_a_worker_started_with_autoscale(transactional_db, client, operator):
    worker = start_worker("autoscaled", "--autoscale", "3,1", "-Q", "autoscaled-home")
    try:
        hostname = f"autoscaled@{HOST}"
        client.force_login(operator)
        # Growing is refused for it before anything is sent: with autoscale, the range is what to change.
        refused = client.post("/dashboard/workers/control/pool_grow/", {"workers": [hostname], "n": 1})
        assert refused.status_code == 400 and "change its range instead" in refused.content.decode()
        confirmed(client, "autoscale", {"workers": [hostname], "max": 4, "min": 2})
        assert ControlAction.objects.get(kind="autoscale").replies[hostname] == {"ok": "autoscale now max=4 min=2"}
        wait_for(lambda: stats_of(hostname).get("autoscaler", {}).get("max") == 4, timeout=20, interval=0.3)
        html = client.get("/dashboard/workers/").content.decode()
        assert '<span class="worker-autoscale">2–4</span>' in html[html.index(f'data-hostname="{hostname}"'):]
    finally:
        worker.stop()


def test_autoscale_is_refused_for_a_worker_without_it(control_worker, client, operator):
    client.force_login(operator)
    refused = client.post("/dashboard/workers/control/autoscale/",
                          {"workers": [control_worker.hostname], "max": 4, "min": 1})
    assert refused.status_code == 400 and "needs a worker started with --autoscale" in refused.content.decode()
    assert not ControlAction.objects.exists()


def test_shutdown_stops_the_worker(transactional_db, client, operator):
    worker = start_worker("doomed", "-Q", "doomed-home")
    try:
        hostname = f"doomed@{HOST}"
        client.force_login(operator)
        done = confirmed(client, "shutdown", {"workers": [hostname]})
        assert done.status_code == 302
        action = ControlAction.objects.get(kind="shutdown")
        assert action.destination == [hostname] and action.user == operator
        wait_for(lambda: worker.popen.poll() is not None, timeout=30, interval=0.2)
        assert "Got shutdown from remote" in worker.log()
    finally:
        worker.stop()


def test_staff_without_the_permission_get_403_and_members_are_sent_away(control_worker, client, alice, bob):
    hostname = control_worker.hostname
    client.force_login(alice)
    page = unescape(client.get("/dashboard/workers/").content.decode())
    assert "needs the permission “Can grow and shrink a worker's pool”" in page
    assert 'action="/dashboard/workers/control/pool_grow/"' not in page
    for kind in ("pool_grow", "shutdown", "rate_limit", "add_consumer"):
        assert client.get(f"/dashboard/workers/control/{kind}/").status_code == 403
        assert client.post(f"/dashboard/workers/control/{kind}/",
                           {"workers": [hostname], "n": 1, "confirm": "yes"}).status_code == 403
    # One permission opens its own command only.
    alice = grant(alice, "dashboard.resize_worker_pool")
    client.force_login(alice)
    assert client.get("/dashboard/workers/control/pool_grow/").status_code == 200
    assert client.get("/dashboard/workers/control/shutdown/").status_code == 403
    client.force_login(bob)
    assert client.post("/dashboard/workers/control/pool_grow/",
                       {"workers": [hostname], "n": 1, "confirm": "yes"}).status_code == 302
    assert not ControlAction.objects.exists()
    assert len(pool_processes(hostname)) == 1


def test_superusers_hold_every_control_permission(control_worker, client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    page = client.get("/dashboard/workers/").content.decode()
    for kind in ("pool_grow", "pool_shrink", "autoscale", "add_consumer", "cancel_consumer", "rate_limit",
                 "time_limit", "pool_restart", "shutdown"):
        assert f'action="/dashboard/workers/control/{kind}/"' in page
    assert 'href="/dashboard/workers/run/"' in page


def test_a_solo_worker_is_shown_without_pool_commands_and_they_are_refused(transactional_db, client, operator):
    worker = start_worker("single", "--pool", "solo", "-Q", "single-home")
    try:
        hostname = f"single@{HOST}"
        client.force_login(operator)
        html = client.get("/dashboard/workers/").content.decode()
        section = html[html.index(f'data-hostname="{hostname}"'):]
        assert 'class="worker-pool">solo' in section
        assert '<dd class="worker-supports">a solo pool cannot grow, shrink, autoscale or restart</dd>' in section
        for kind in ("pool_grow", "pool_restart"):
            refused = client.post(f"/dashboard/workers/control/{kind}/", {"workers": [hostname], "n": 1})
            assert refused.status_code == 400 and "its pool cannot" in refused.content.decode()
        # Commands that do not depend on the pool still work on it.
        confirmed(client, "rate_limit", {"workers": [hostname], "task_name": "dashboard.tasks.demo_job_task",
                                         "rate_limit": "5/s"})
        assert ControlAction.objects.get().replies[hostname] == {"ok": "new rate limit set successfully"}
    finally:
        worker.stop()


def test_workers_page_shows_processed_per_task_revoked_ids_conf_prefetch_uptime_and_resources(control_worker, transactional_db, client, alice):
    from celery import uuid as celery_uuid

    from dashboard.tasks import demo_job_task

    hostname = control_worker.hostname
    done = demo_job_task.apply_async((1, 0), queue="control-home")
    done.get(timeout=30)
    forgotten = celery_uuid()
    app.control.revoke(forgotten, destination=[hostname], reply=True, timeout=5)
    client.force_login(alice)
    cache.delete(workers.SNAPSHOT_KEY)
    html = client.get("/dashboard/workers/").content.decode()
    section = html[html.index(f'data-hostname="{hostname}"'):]
    section = section[:section.index("</section>")]
    assert 'data-task-name="dashboard.tasks.demo_job_task" data-processed="1"' in section
    assert f'<a href="/dashboard/tasks/{forgotten}/"><code>{forgotten}</code></a>' in section
    assert "<code>worker_prefetch_multiplier</code></th><td><code>1</code>" in section
    # Only Celery's settings, as Celery names them: never the rest of Django's (SECRET_KEY, REDIS_URL...).
    assert "<code>worker_pool_restarts</code></th><td><code>True</code>" in section
    assert "SECRET_KEY" not in section and "REDIS_URL" not in section and "FLOWER_BASIC_AUTH" not in section
    assert re.search(r'class="worker-prefetch">\d+ messages? reserved from the broker at most', section)
    assert re.search(r'class="worker-uptime" title="[\d.]+ s">\d+\xa0minutes?', section)
    # The main process's resource use (getrusage through stats()): a worker uses some memory and CPU.
    system = re.search(r'class="worker-system">peak memory ([\d.]+) MB · CPU ([\d.]+) s user', section)
    assert system and float(system.group(1)) > 10 and float(system.group(2)) > 0
    assert 'data-task-name="dashboard.tasks.demo_job_task" data-rate-limit=' in section
