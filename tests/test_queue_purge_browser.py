"""In headless Chromium: staff purge a queue from the workers page through its confirmation page
(plain links and forms: no JavaScript needed), and the purged tasks read revoked."""

import uuid

import pytest
from celery import states
from django.core.cache import cache
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from dashboard.tasks import demo_job_task
from dashboard.workers.services import SNAPSHOT_KEY
from site_config.celery import app
from tests.conftest import browser_login, grant, make_user

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def alice(db):
    return grant(make_user("alice", staff=True), "dashboard.purge_queue")


@pytest.fixture
def parked_queue(transactional_db):
    name = f"parked-{uuid.uuid4().hex[:8]}"
    yield name
    with app.connection_for_write() as connection:
        channel = connection.channel()
        channel.queue_delete(name)
        channel.close()


def test_staff_purge_a_queue_after_a_confirmation_naming_the_count(page, daphne_server, alice, parked_queue):
    task_ids = [demo_job_task.apply_async((1, 0), queue=parked_queue).id for _ in range(3)]
    cache.delete(SNAPSHOT_KEY)
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/workers/")
    row = page.locator(f'tr[data-queue="{parked_queue}"]')
    expect(row.locator(".queue-length")).to_have_text("3")
    row.get_by_role("link", name="Purge…").click()

    expect(page.locator(".purge-count")).to_contain_text(f"3 messages wait in queue {parked_queue}")
    page.get_by_role("button", name=f"Purge 3 messages from {parked_queue}").click()

    expect(page.locator(".messages")).to_contain_text(f"Purged 3 messages from queue {parked_queue}")
    purge = page.locator(f'.purges li[data-queue="{parked_queue}"]')
    expect(purge).to_contain_text("alice purged 3 messages")
    assert set(TaskResult.objects.filter(task_id__in=task_ids).values_list("status", flat=True)) == {states.REVOKED}
    page.goto(f"{daphne_server.url}/dashboard/tasks/{task_ids[0]}/")
    expect(page.get_by_text(f"Revoked: purged by alice from queue {parked_queue}.")).to_be_visible()
