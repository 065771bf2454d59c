"""Queue lengths and purge against real brokers: the session's private Redis, and the RabbitMQ at
127.0.0.1:5672 (guest/guest) when one answers there (skipped, saying so, when none does; failed with CI=true).

Tasks are queued to a queue of their own that no worker consumes, so they wait; a purge takes them
off the broker and marks each one's row REVOKED "purged by alice".
"""

from __future__ import annotations

import json
import os
import re
import socket
import urllib.request
import uuid

import kombu.pools
import pytest
from celery import states
from django.core.cache import cache
from django.urls import reverse
from django_celery_results.models import TaskResult

from dashboard.models import QueuePurge, TaskAction
from dashboard.tasks import demo_job_task
from dashboard.workers import queues
from dashboard.workers.services import SNAPSHOT_KEY
from site_config.celery import app
from site_config.machinery.stored_texts import shown
from tests.conftest import grant, make_user, service_missing, session_cookie, start_daphne

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def alice(db):
    return grant(make_user("alice", staff=True), "dashboard.purge_queue")


@pytest.fixture
def dora(db):
    """Staff without the purge permission."""
    return make_user("dora", staff=True)


def _use_broker(url: str, transport):
    """Point this process's Celery app at another broker: kombu's connection and producer pools are
    closed and made afresh for the new one."""
    previous = (app.conf.broker_url, app.conf.broker_transport)
    kombu.pools.reset()
    app.conf.broker_url, app.conf.broker_transport = url, transport
    app._pool = None
    app.amqp._producer_pool = None
    return previous


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request, transactional_db):
    """Each test runs on both brokers: Redis as configured, RabbitMQ at RABBITMQ_URL."""
    if request.param == "redis":
        yield "redis"
        return
    if not _rabbitmq_reachable():
        service_missing("RabbitMQ is not reachable at 127.0.0.1:5672 (start one to test the AMQP broker)")
    previous = _use_broker(RABBITMQ_URL, None)
    try:
        yield "amqp"
    finally:
        _use_broker(*previous)


@pytest.fixture
def parked_queue(broker):
    """A queue of this test's own, which no worker consumes; deleted from the broker afterwards."""
    name = f"parked-{uuid.uuid4().hex[:8]}"
    yield name
    with app.connection_for_write() as connection:
        channel = connection.channel()
        try:
            channel.queue_delete(name)
        finally:
            channel.close()


def _queue_tasks(queue: str, count: int) -> list[str]:
    return [demo_job_task.apply_async((1, 0), queue=queue).id for _ in range(count)]


def _length_on_page(html: str, queue: str) -> int | None:
    match = re.search(rf'data-queue="{re.escape(queue)}" data-length="(\d+)"', html)
    return int(match.group(1)) if match else None


def test_queue_length_is_read_from_the_broker(parked_queue, broker):
    _queue_tasks(parked_queue, 3)
    assert queues.broker_kind() == broker
    assert queues.queue_length(parked_queue) == 3
    assert {"name": parked_queue, "length": 3} in queues.queue_lengths()


def test_purge_asks_with_the_count_then_revokes_every_waiting_task(parked_queue, client, alice):
    task_ids = _queue_tasks(parked_queue, 3)
    assert set(TaskResult.objects.filter(task_id__in=task_ids).values_list("status", flat=True)) == {states.PENDING}
    client.force_login(alice)
    url = reverse("dashboard:queue_purge", args=[parked_queue])

    confirm = client.get(url)
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert f"Purge 3 messages from {parked_queue}" in text  # the button names the count and the queue
    assert 'name="confirmed_count" value="3"' in text

    response = client.post(url, {"confirmed_count": "3"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard:workers")
    assert f"Purged 3 messages from queue {parked_queue}" in response.content.decode()

    rows = TaskResult.objects.filter(task_id__in=task_ids)
    assert {row.status for row in rows} == {states.REVOKED}
    assert all(shown(json.loads(row.result)["exc_message"][0]) == f"purged by alice from queue {parked_queue}"
               for row in rows)
    assert queues.queue_length(parked_queue) == 0
    purge = QueuePurge.objects.get()
    assert (purge.queue, purge.purged_count, purge.confirmed_count, purge.user) == (parked_queue, 3, 3, alice)
    assert set(TaskAction.objects.filter(batch=purge.batch, kind="purge").values_list("task_id", flat=True)) == set(task_ids)
    # The task's own page says why it will never run.
    detail = client.get(reverse("dashboard:task_detail", args=[task_ids[0]])).content.decode()
    assert f"Revoked: purged by alice from queue {parked_queue}." in detail


def test_staff_without_the_permission_see_the_count_but_cannot_purge(parked_queue, client, dora):
    task_ids = _queue_tasks(parked_queue, 2)
    client.force_login(dora)
    url = reverse("dashboard:queue_purge", args=[parked_queue])
    page = client.get(url).content.decode()
    assert "2 messages" in page and "Purging a queue needs the permission" in page
    assert 'name="confirmed_count"' not in page
    assert client.post(url, {"confirmed_count": "2"}).status_code == 403
    assert queues.queue_length(parked_queue) == 2
    assert set(TaskResult.objects.filter(task_id__in=task_ids).values_list("status", flat=True)) == {states.PENDING}
    assert not QueuePurge.objects.exists()


def test_purge_of_a_queue_the_page_does_not_list_is_not_found(broker, client, alice):
    client.force_login(alice)
    assert client.get(reverse("dashboard:queue_purge", args=["no-such-queue-anywhere"])).status_code == 404


def test_members_cannot_open_the_purge_page(parked_queue, client, bob):
    client.force_login(bob)
    response = client.get(reverse("dashboard:queue_purge", args=[parked_queue]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.live
def test_workers_page_served_with_an_amqp_broker_shows_queue_lengths(transactional_db, alice):
    """The site as deployed with CELERY_BROKER_URL=amqp://...: daphne reads the lengths itself."""
    if not _rabbitmq_reachable():
        service_missing("RabbitMQ is not reachable at 127.0.0.1:5672 (start one to test the AMQP broker)")
    name = f"parked-{uuid.uuid4().hex[:8]}"
    cache.delete(SNAPSHOT_KEY)  # asked afresh, not a snapshot another test left in the shared cache
    previous = _use_broker(RABBITMQ_URL, None)
    server = None
    try:
        _queue_tasks(name, 2)  # remembered as a queue this site sent to (AMQP cannot list its queues)
        server = start_daphne("daphne-amqp", env={"CELERY_BROKER_URL": RABBITMQ_URL})
        request = urllib.request.Request(f"{server.url}/dashboard/workers/", headers={"Cookie": session_cookie(alice)})
        html = urllib.request.urlopen(request, timeout=30).read().decode()
        assert "cannot be read from this broker" not in html, html[html.index("<h2>Queues"):][:600]
        assert _length_on_page(html, name) == 2
    finally:
        if server is not None:
            server.stop()
        with app.connection_for_write() as connection:
            channel = connection.channel()
            channel.queue_delete(name)
            channel.close()
        _use_broker(*previous)
