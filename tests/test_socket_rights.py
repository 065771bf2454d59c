"""A websocket ends when its right ends: logout, deactivation, a password change, a change of staff
or superuser status, groups or permissions; and at a maximum age, after which the reconnect is
authorised afresh. Real daphne, real websocket clients, changes made as the admin would make them."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dashboard.tasks import demo_job_task
from tests.blog_helpers import make_comment, make_post
from tests.conftest import browser_login, grant, session_cookie, start_daphne
from tests.livetools import ws_connect

pytestmark = pytest.mark.live
User = get_user_model()
SIGNED_OUT, RECONNECT = 4403, 1012


def close_code(ws, timeout: float = 10.0) -> int:
    """Read until the server closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the socket was still open after {timeout} s")
            ws.recv(timeout=remaining)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else closed.rcvd_then_sent


def still_open(ws, seconds: float = 1.5) -> bool:
    try:
        while True:
            ws.recv(timeout=seconds)  # snapshots or updates may still arrive; a close would raise
    except TimeoutError:
        return True
    except ConnectionClosed:
        return False


def refused(server, path: str, cookie: str) -> bool:
    try:
        with ws_connect(server, path, cookie):
            pass
    except InvalidStatus as refusal:
        return refusal.response.status_code == 403
    return False


def _deactivate(user):
    user.is_active = False
    user.save()


def _new_password(user):
    user.set_password("a-brand-new-password-42")
    user.save()


def _not_staff(user):
    user.is_staff = False
    user.save()


def _superuser(user):
    user.is_superuser = True
    user.save()


def _joins_a_group(user):
    user.groups.add(Group.objects.create(name="operators"))


def _granted_a_permission(user):
    user.user_permissions.add(Permission.objects.get(codename="act_on_tasks"))


def _deleted(user):
    user.delete()


# change -> the close code of alice's task-list socket, and whether she may reconnect
CHANGES = {
    "deactivated": (_deactivate, SIGNED_OUT),
    "password changed": (_new_password, SIGNED_OUT),
    "no longer staff": (_not_staff, SIGNED_OUT),
    "deleted": (_deleted, SIGNED_OUT),
    "made superuser": (_superuser, RECONNECT),
    "joins a group": (_joins_a_group, RECONNECT),
    "granted a permission": (_granted_a_permission, RECONNECT),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_to_the_users_rights_ends_their_sockets(daphne_server, transactional_db, alice, change):
    apply, expected = CHANGES[change]
    cookie = session_cookie(alice)
    with ws_connect(daphne_server, "/ws/tasks/", cookie) as tasks, \
            ws_connect(daphne_server, "/ws/workers/", cookie) as workers:
        assert 'id="task-rows"' in tasks.recv(timeout=10)
        workers.recv(timeout=15)
        apply(alice)
        assert close_code(tasks) == expected
        assert close_code(workers) == expected
    assert refused(daphne_server, "/ws/tasks/", cookie) == (expected == SIGNED_OUT), "the reconnect re-authorises"


def test_a_member_who_loses_staff_keeps_the_page_of_their_own_task(daphne_server, transactional_db, alice):
    mine = demo_job_task.apply_async((3, 0), queue="parked", headers={"launched_by": alice.pk})
    cookie = session_cookie(alice)
    with ws_connect(daphne_server, "/ws/tasks/", cookie) as staff_list, \
            ws_connect(daphne_server, f"/ws/tasks/{mine.id}/", cookie) as own_task:
        staff_list.recv(timeout=10)
        own_task.recv(timeout=10)
        _not_staff(alice)
        assert close_code(staff_list) == SIGNED_OUT
        assert close_code(own_task) == RECONNECT
    with ws_connect(daphne_server, f"/ws/tasks/{mine.id}/", cookie) as again:
        assert "PENDING" in again.recv(timeout=10)


def test_changes_that_touch_no_right_leave_sockets_open(daphne_server, transactional_db, alice, bob):
    with ws_connect(daphne_server, "/ws/tasks/", session_cookie(alice)) as ws:
        ws.recv(timeout=10)
        alice.first_name = "Alice"
        alice.save()
        User.objects.get(pk=alice.pk).save(update_fields=["last_login"])
        _deactivate(bob)
        _joins_a_group(bob)
        assert still_open(ws)


def test_logout_ends_that_sessions_sockets_only(daphne_server, transactional_db, alice):
    here, elsewhere = session_cookie(alice), session_cookie(alice)
    with ws_connect(daphne_server, "/ws/tasks/", here) as mine, \
            ws_connect(daphne_server, "/ws/tasks/", elsewhere) as other_browser:
        mine.recv(timeout=10)
        other_browser.recv(timeout=10)
        browser = Client()
        name, key = here.split("=", 1)
        browser.cookies[name] = key
        assert browser.post("/accounts/logout/").status_code == 302
        assert close_code(mine) == SIGNED_OUT
        assert still_open(other_browser)
    assert refused(daphne_server, "/ws/tasks/", here)


def test_a_group_losing_a_permission_reauthorises_its_members_sockets(daphne_server, transactional_db, alice, bob):
    moderators = Group.objects.create(name="moderators")
    decide = Permission.objects.get(codename="decide_comments")
    moderators.permissions.add(decide)
    alice.groups.add(moderators)
    make_comment(make_post(alice), bob, body="waiting")
    cookie = session_cookie(alice)
    with ws_connect(daphne_server, "/ws/moderation/", cookie) as queue:
        assert ">Approve</button>" in queue.recv(timeout=10)
        moderators.permissions.remove(decide)
        assert close_code(queue) == RECONNECT
    with ws_connect(daphne_server, "/ws/moderation/", cookie) as queue:
        assert ">Approve</button>" not in queue.recv(timeout=10), "the reconnect sees the permission gone"


@pytest.fixture
def short_lived_daphne(django_db_setup):
    server = start_daphne("daphne-max-age", env={"WS_MAX_AGE_SECONDS": "2"})
    yield server
    server.stop()


def test_a_socket_closes_at_its_maximum_age_and_its_reconnect_is_authorised_afresh(
        short_lived_daphne, transactional_db, alice):
    cookie = session_cookie(alice)
    before_connect = time.monotonic()
    with ws_connect(short_lived_daphne, "/ws/tasks/", cookie) as ws:
        ws.recv(timeout=10)
        assert close_code(ws, timeout=10) == RECONNECT
        # Not before its age (2 s, shortened by at most 10 %): counted from before the connection
        # began, so a slow machine can only make this larger, never fail it.
        assert time.monotonic() - before_connect >= 2 * 0.9
    with ws_connect(short_lived_daphne, "/ws/tasks/", cookie) as ws:
        ws.recv(timeout=10)
        # A change no signal reports (a queryset update): the socket lives on until its maximum age...
        User.objects.filter(pk=alice.pk).update(is_staff=False)
        assert close_code(ws, timeout=10) == RECONNECT
    # ... and the reconnect is refused.
    assert refused(short_lived_daphne, "/ws/tasks/", cookie)


@pytest.mark.browser
def test_the_page_says_signed_out_when_its_socket_ends_for_good(page, daphne_server, transactional_db, alice):
    grant(alice, "dashboard.decide_comments")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/moderation/")
    page.locator("#moderation-queue.connected").wait_for()
    _deactivate(User.objects.get(pk=alice.pk))
    notice = page.locator("#moderation-queue .live-signed-out")
    notice.wait_for()
    assert "signed out" in notice.inner_text()
    assert page.locator("#moderation-queue.connected").count() == 0
    assert notice.get_by_role("link").get_attribute("href") == "/accounts/login/?next=%2Fdashboard%2Fmoderation%2F"
