"""Pages whose URL answers htmx with a fragment and everyone else with the whole page: both answers
say `Vary: HX-Request`, so no cache (nor the browser's back button) serves one in place of the other."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils.cache import has_vary_header
from django_celery_beat.models import PeriodicTask

from blog.models import Comment
from dashboard.workers import services as workers
from tests.blog_helpers import _fresh_rate_limits, make_comment, make_post, verify  # noqa: F401

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def staff_client(client, alice):
    from tests.conftest import grant

    client.force_login(grant(alice, "dashboard.decide_comments"))
    return client


@pytest.fixture
def quick_workers_page(settings):
    # No worker answers in this lane: ask briefly, and leave no snapshot behind for other tests.
    settings.WORKERS_INSPECT_TIMEOUT = 0.1
    cache.delete(workers.SNAPSHOT_KEY)
    yield
    cache.delete(workers.SNAPSHOT_KEY)


# (page name, its URL, the element the htmx fragment starts with)
PAGES = [
    ("task list", lambda: "/dashboard/tasks/", '<div id="task-table"'),
    ("schedule list", lambda: "/dashboard/schedules/", '<div id="schedule-table"'),
    ("moderation queue", lambda: "/dashboard/moderation/", '<div id="moderation-queue"'),
    ("workers page", lambda: "/dashboard/workers/", '<div id="workers-live"'),
]


@pytest.mark.parametrize(("name", "url", "fragment_start"), PAGES, ids=[name for name, _, _ in PAGES])
def test_htmx_page_answers_fragment_or_page_and_varies_on_hx_request(staff_client, quick_workers_page, name, url,
                                                                     fragment_start):
    whole = staff_client.get(url())
    fragment = staff_client.get(url(), **HTMX)
    assert whole.status_code == fragment.status_code == 200
    assert whole.content.decode().lstrip().lower().startswith("<!doctype html>")
    assert fragment.content.decode().lstrip().startswith(fragment_start)
    assert has_vary_header(whole, "HX-Request") and has_vary_header(fragment, "HX-Request")


def test_schedule_form_errors_come_back_as_the_form_to_htmx_and_every_answer_varies(client):
    from django.contrib.auth.models import Permission

    from tests.conftest import make_user

    editor = make_user("sam", staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="change_periodictask"))
    client.force_login(editor)
    url = f"/dashboard/schedules/{PeriodicTask.objects.get(name='daily-report').pk}/"
    bad = {"kind": "crontab", "crontab": "5 25 * * *"}
    htmx = client.post(url, bad, **HTMX)
    plain = client.post(url, bad)
    page = client.get(url, **HTMX)  # a GET is always the whole page, htmx or not
    assert htmx.status_code == 200 and htmx.content.decode().lstrip().startswith('<form method="post"')
    assert plain.status_code == 400 and plain.content.decode().lstrip().lower().startswith("<!doctype html>")
    assert page.status_code == 200 and page.content.decode().lstrip().lower().startswith("<!doctype html>")
    assert all(has_vary_header(response, "HX-Request") for response in (htmx, plain, page))


def test_comment_posting_varies_on_hx_request_for_htmx_and_plain_posts(client, alice, bob):
    post = make_post(alice)
    client.force_login(verify(bob))
    url = f"/blog/{post.slug}/comments/"
    plain = client.post(url, {"body": "Plain post"})
    htmx = client.post(url, {"body": "Posted with htmx"}, **HTMX)
    assert plain.status_code == 302 and htmx.status_code == 200
    assert htmx.content.decode().lstrip().startswith('<div id="comment-form">')
    assert has_vary_header(plain, "HX-Request") and has_vary_header(htmx, "HX-Request")
    assert Comment.objects.count() == 2


def test_moderation_bulk_answers_the_queue_fragment_to_htmx_and_varies_on_hx_request(staff_client, alice, bob):
    held = make_comment(make_post(alice), bob, body="held one")
    data = {"action": "approve", "status": "held", "selected": [held.pk]}
    htmx = staff_client.post("/dashboard/moderation/bulk/", data, **HTMX)
    assert htmx.status_code == 200 and htmx.content.decode().lstrip().startswith('<div id="moderation-queue"')
    plain = staff_client.post("/dashboard/moderation/bulk/", data)
    assert plain.status_code == 302
    assert has_vary_header(plain, "HX-Request") and has_vary_header(htmx, "HX-Request")
