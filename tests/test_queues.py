"""Queues and routing: email and moderation on their own queues, and no queue a plain worker ignores."""

from __future__ import annotations

import pytest
from django.conf import settings

from site_config.celery import app
from tests.livetools import wait_for, worker_hostname

DECLARED = {queue.name for queue in settings.CELERY_TASK_QUEUES}


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(("task_name", "queue"), [
    ("blog.tasks.email_send_task", "email"),
    ("blog.tasks.email_sweep_task", "email"),
    ("blog.tasks.email_batch_send_task", "email"),
    ("blog.tasks.announcement_batch_task", "email"),
    ("blog.tasks.moderate_comment_task", "moderation"),
    ("blog.tasks.purge_unverified_members_task", "celery"),
    ("dashboard.tasks.demo_job_task", "celery"),
    ("dashboard.tasks.daily_report_task", "celery"),
])
def test_tasks_are_routed_by_name(task_name, queue):
    assert queue_of(task_name) == queue


def test_every_routed_queue_is_declared_so_a_worker_without_q_consumes_it():
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= DECLARED


def test_each_declared_queue_has_its_own_routing_key():
    # Two queues bound with one key on one exchange would both get (and run) the same message.
    bindings = [(queue.exchange.name, queue.routing_key) for queue in settings.CELERY_TASK_QUEUES]
    assert len(set(bindings)) == len(bindings)


@pytest.mark.live
def test_worker_started_without_q_consumes_every_declared_queue(live_worker):
    def consumed():
        return (app.control.inspect(destination=[worker_hostname()], timeout=5).active_queues() or {}).get(
            worker_hostname())

    assert {queue["name"] for queue in wait_for(consumed, timeout=20)} == DECLARED
