"""In headless Chromium: staff upload a post's image, land on its renditions job's page while the job
is still queued (the worker is told to stop taking from its queue first), cancel it there; it ends
"Revoked", cancelled by them, never runs once the worker takes from the queue again, and the post
shows no half-made image."""

import re
import socket

import pytest
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from blog.models import Post
from dashboard.models import TaskEvent
from site_config.celery import app
from tests.conftest import browser_login, grant
from tests.image_helpers import jpeg_bytes
from tests.livetools import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.live]
WORKER = 30_000  # ms: room for a busy machine's worker; nothing is timed against it


@pytest.fixture
def default_queue_parked(live_worker):
    """The session worker stops consuming the default queue (where the renditions task goes) and
    takes from it again at the end, whatever happens."""
    worker = f"worker@{socket.gethostname()}"
    # The worker replies before it acts (it schedules the change on its event loop): wait for the change.
    assert app.control.cancel_consumer("celery", destination=[worker], reply=True, timeout=10)
    wait_for(lambda: _consumes(worker, "celery") is False, timeout=20)
    yield worker
    assert app.control.add_consumer("celery", destination=[worker], reply=True, timeout=10)
    wait_for(lambda: _consumes(worker, "celery"), timeout=20)


def _consumes(worker: str, queue: str) -> bool | None:
    """Whether `worker` consumes `queue`, as it answers; None when it did not answer in time."""
    replies = app.control.inspect(destination=[worker], timeout=5).active_queues() or {}
    if worker not in replies:
        return None
    return any(q["name"] == queue for q in replies[worker])


def test_staff_cancel_a_queued_image_job_from_its_page_and_it_never_runs(page, live_worker, daphne_server, alice,
                                                                          default_queue_parked):
    worker = default_queue_parked
    grant(alice, "blog.add_post", "blog.change_post")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/posts/")
    page.get_by_role("link", name="Write a post").click()
    page.get_by_label("Title").fill("Never resized")
    page.get_by_label("Body").fill("A picture that is cancelled.")
    page.get_by_label("Status").select_option("published")
    page.get_by_label("Image", exact=True).set_input_files(
        {"name": "never.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes(1600, 1200)})
    page.get_by_label("Alternative text").fill("Never shown")
    page.get_by_role("button", name="Save post").click()

    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    post = Post.objects.get(slug="never-resized")
    task_id = post.image_task_id
    assert page.url.endswith(f"/dashboard/tasks/{task_id}/")
    expect(page.locator(".live.connected")).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text(re.compile("Queued|Pending"))
    page.get_by_role("link", name="Cancel job…").click()
    page.get_by_role("button", name="Cancel the job").click()
    expect(page).to_have_url(f"{daphne_server.url}/dashboard/tasks/{task_id}/")
    expect(page.locator(".task-status .badge")).to_have_text("Revoked", timeout=WORKER)
    expect(page.get_by_role("link", name="Cancel job…")).to_be_hidden()
    expect(page.locator(".timeline")).to_contain_text("cancelled by alice before it started")

    # The worker takes from the queue again: it receives the message and does not run the job.
    assert app.control.add_consumer("celery", destination=[worker], reply=True, timeout=10)
    wait_for(lambda: _consumes(worker, "celery"), timeout=20)
    live_worker.wait_for_log(f"Discarding revoked task: blog.tasks.post_image_renditions_task[{task_id}]")
    row = TaskResult.objects.get(task_id=task_id)
    assert row.status == "REVOKED" and row.date_started is None
    assert not TaskEvent.objects.filter(task_id=task_id, kind="started").exists()
    post.refresh_from_db()
    assert post.image_status != "ready" and not post.image_renditions.exists()

    page.goto(f"{daphne_server.url}/blog/never-resized/")
    expect(page.locator("article.post picture")).to_have_count(0)
    expect(page.get_by_text("being prepared")).to_have_count(0)
    expect(page.locator("article.post")).to_contain_text("cancelled before the web sizes were made")
