"""In headless Chromium: staff upload a post's image in the dashboard, watch its renditions task to
the end on the live page, and the post page shows the image."""

import re

import pytest
from playwright.sync_api import expect

from blog.models import Post
from tests.conftest import browser_login, grant
from tests.image_helpers import jpeg_bytes

pytestmark = [pytest.mark.browser, pytest.mark.live]
WORKER = 60_000  # ms: room for a busy machine's worker; nothing is timed against it


def test_staff_upload_an_image_watch_its_sizes_being_made_and_see_it_on_the_post(page, live_worker, daphne_server,
                                                                                   alice):
    grant(alice, "blog.add_post", "blog.change_post")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/posts/")
    page.get_by_role("link", name="Write a post").click()
    page.get_by_label("Title").fill("A day out")
    page.get_by_label("Body").fill("Red on the left, blue on the right.")
    page.get_by_label("Status").select_option("published")
    page.get_by_label("Image", exact=True).set_input_files(
        {"name": "day-out.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes(2400, 1600, orientation=6)})
    page.get_by_label("Alternative text").fill("Red and blue halves")
    page.get_by_role("button", name="Save post").click()

    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    post = Post.objects.get(slug="a-day-out")
    assert page.url.endswith(f"/dashboard/tasks/{post.image_task_id}/")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100", timeout=WORKER)
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded")

    page.goto(f"{daphne_server.url}/blog/a-day-out/")
    image = page.locator("article.post picture img")
    expect(image).to_have_attribute("alt", "Red and blue halves")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    natural = image.evaluate("img => [img.naturalWidth, img.naturalHeight, img.currentSrc]")
    assert natural[1] > natural[0]  # upright: the EXIF orientation turned it to portrait
    assert ".webp" in natural[2]  # Chromium takes the WebP source
