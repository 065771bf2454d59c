"""Announcements: staff write to every verified member; batches through the outbox (one task per
batch), pause and resume, never two copies, unsubscribe link and headers, opted-out and unverified
members skipped; bulk approval's notifications in batch tasks too. Real worker and a real local SMTP
server (aiosmtpd) where the worker sends."""

from __future__ import annotations

import asyncio
import email as email_parser
import json
import math
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller
from celery import states
from django.core import mail
from django.test import Client
from django_celery_results.models import TaskResult

from blog.models import Announcement, AnnouncementDelivery, OutboundEmail, Profile
from blog.services import announcements, comments
from site_config.devtools.local_redis import free_port
from tests.blog_helpers import make_comment, make_post, verify
from tests.conftest import browser_login, grant, make_user, start_daphne, start_worker
from tests.livetools import wait_for

SEND = "dashboard.send_announcement"
BATCH_TASK = "blog.tasks.announcement_batch_task"


def verified_members(count: int, prefix: str = "member") -> list:
    return [verify(make_user(f"{prefix}{n}")) for n in range(count)]


def opted_out(user):
    verify(user)
    Profile.objects.filter(user=user).update(announcements_opt_out=True)
    return user


def make_announcement(author, **fields) -> Announcement:
    """An announcement row as announcement_create writes it, without queueing its first batch (the
    live tests queue it themselves, on their own Redis)."""
    total = announcements.announcement_recipients().count()
    return Announcement.objects.create(subject="News", body="Something happened.", created_by=author,
                                       recipients_total=total, **fields)


class Inbox:
    """A local SMTP server's mailbox. `allow(n)` lets n more messages through; until then DATA waits,
    so a test holds a batch in the middle of sending (a gate, not a sleep)."""

    def __init__(self, *, allowed: float = math.inf) -> None:
        self.messages: list = []
        self.allowed = allowed
        self.held = 0  # messages waiting at the gate now
        self._lock = threading.Lock()

    def allow(self, more: float) -> None:
        with self._lock:
            self.allowed += more

    async def handle_DATA(self, server, session, envelope):
        held = False
        while True:
            with self._lock:
                if len(self.messages) < self.allowed:
                    self.messages.append(envelope)
                    self.held -= held
                    return "250 OK"
                if not held:
                    held, self.held = True, self.held + 1
            await asyncio.sleep(0.02)

    def recipients(self) -> list[str]:
        return sorted(address for message in self.messages for address in message.rcpt_tos)

    def parsed(self):
        return [email_parser.message_from_bytes(message.content, policy=policy.default) for message in self.messages]


@pytest.fixture
def own_redis():
    """A Redis of the test's own, so the session's worker (other settings) never takes these tasks."""
    from site_config.devtools.local_redis import PrivateRedis
    from tests.plugin import WORKDIR

    redis = PrivateRedis(WORKDIR / f"announce-redis-{free_port()}").start()
    yield redis
    redis.stop()


def send_on(redis, task, *args):
    from site_config.celery import app

    with app.connection_for_write(redis.url) as connection:
        return task.apply_async(args, connection=connection)


def batch_tasks() -> list[TaskResult]:
    return list(TaskResult.objects.filter(task_name=BATCH_TASK).order_by("date_created"))


def all_finished(tasks) -> bool:
    return bool(tasks) and all(task.status in states.READY_STATES for task in tasks)


# --- who may ------------------------------------------------------------------------------------


@pytest.fixture
def olga(db):
    """Staff with no permission at all."""
    return make_user("olga", staff=True)


@pytest.mark.django_db
def test_members_get_404_and_staff_without_the_permission_read_only_and_403(client, bob, olga, alice):
    announcement = make_announcement(alice, status="paused")
    client.force_login(bob)
    for url in ("/dashboard/announcements/", f"/dashboard/announcements/{announcement.pk}/"):
        assert client.get(url).status_code == 404
    assert client.post("/dashboard/announcements/", {"subject": "x", "body": "y"}).status_code == 404
    assert client.post(f"/dashboard/announcements/{announcement.pk}/resume/").status_code == 404

    client.force_login(olga)
    page = client.get("/dashboard/announcements/")
    assert page.status_code == 200
    assert "needs the permission “Can send announcements to all members”" in page.content.decode()
    assert "New announcement" not in page.content.decode()
    refused = client.post("/dashboard/announcements/", {"subject": "x", "body": "y"})
    assert refused.status_code == 403
    assert "Can send announcements to all members" in refused.content.decode()
    assert client.post(f"/dashboard/announcements/{announcement.pk}/resume/").status_code == 403
    assert client.post(f"/dashboard/announcements/{announcement.pk}/pause/", HTTP_HX_REQUEST="true").status_code == 403
    assert Announcement.objects.count() == 1 and Announcement.objects.get().status == "paused"


@pytest.mark.django_db
def test_staff_with_the_permission_write_an_announcement_and_land_on_its_page(
        client, alice, django_capture_on_commit_callbacks):
    verified_members(3)
    client.force_login(grant(alice, SEND))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post("/dashboard/announcements/", {"subject": "Hello all", "body": "News."})
    announcement = Announcement.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/dashboard/announcements/{announcement.pk}/"
    assert (announcement.status, announcement.recipients_total, announcement.created_by) == ("sending", 3, alice)
    assert len(queued) == 1  # the first batch, after commit
    page = client.get(response["Location"]).content.decode()
    assert '<span class="reached">0</span> of <span class="total">3</span> members reached' in page
    assert ">Pause</button>" in page


def test_the_upgrade_grants_the_permission_to_existing_staff_only(transactional_db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("dashboard", "0012_permissions_and_action_kinds_together")])
    try:
        # As on a database from before: the permission is created by the upgrade itself.
        Permission.objects.filter(content_type__app_label="dashboard", codename="send_announcement").delete()
        staff, member = make_user("stan", staff=True), make_user("mia")
        executor = MigrationExecutor(connection)
        executor.migrate([("dashboard", "0013_send_announcement_permission")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    staff, member = (get_user_model().objects.get(pk=user.pk) for user in (staff, member))
    assert staff.has_perm(SEND)
    assert not member.has_perm(SEND)


def test_the_live_socket_is_for_staff_and_only_those_who_may_send_get_the_buttons(
        daphne_server, transactional_db, alice, bob, olga):
    from websockets.exceptions import InvalidStatus

    from tests.conftest import session_cookie
    from tests.livetools import ws_connect

    announcement = make_announcement(alice, status="sending")
    path = f"/ws/announcements/{announcement.pk}/"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(daphne_server, path, cookie=session_cookie(bob))
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/announcements/{announcement.pk + 1}/", cookie=session_cookie(alice))
    with ws_connect(daphne_server, path, cookie=session_cookie(olga)) as ws:
        snapshot = ws.recv(timeout=10)
        assert f'id="announcement-{announcement.pk}-progress"' in snapshot and ">Pause</button>" not in snapshot
    with ws_connect(daphne_server, path, cookie=session_cookie(grant(alice, SEND))) as ws:
        assert ">Pause</button>" in ws.recv(timeout=10)


# --- sending, in the test process (the worker's runs are below) ---------------------------------


@pytest.mark.django_db
def test_unverified_and_opted_out_members_are_skipped_and_each_email_has_its_unsubscribe_link(alice, bob, charlie):
    verify(bob)
    opted_out(charlie)
    make_user("dora")  # signed up, never verified
    announcement = make_announcement(alice)
    outcome = announcements.announcement_batch_send(announcement_id=announcement.pk, batch_number=1)
    assert (outcome.outcome, outcome.members, outcome.more) == ("sent", 1, False)
    assert [message.to for message in mail.outbox] == [["bob@example.com"]]
    message = mail.outbox[0]
    link = announcements.announcement_unsubscribe_url(member_id=bob.pk)
    assert message.extra_headers == {"List-Unsubscribe": f"<{link}>",
                                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert f"Stop receiving announcements: {link}" in message.body
    announcement.refresh_from_db()
    assert announcement.status == "done" and announcement.recipients_total == 1


@pytest.mark.django_db
def test_pause_stops_between_batches_resume_continues_and_nobody_gets_two(alice, settings):
    settings.ANNOUNCEMENT_BATCH_SIZE = 2
    members = verified_members(5)
    announcement = make_announcement(alice)

    def batch(number):
        return announcements.announcement_batch_send(announcement_id=announcement.pk, batch_number=number)

    assert (batch(1).outcome, len(mail.outbox)) == ("sent", 2)
    assert announcements.announcement_pause(announcement_id=announcement.pk)
    assert (batch(2).outcome, len(mail.outbox)) == ("paused", 2)  # the next batch finds it paused
    assert not announcements.announcement_pause(announcement_id=announcement.pk)  # already paused
    assert announcements.announcement_resume(announcement_id=announcement.pk, user=alice)
    assert not announcements.announcement_resume(announcement_id=announcement.pk, user=alice)
    second = batch(2)
    assert (second.outcome, second.more, len(mail.outbox)) == ("sent", True, 4)
    redelivered = batch(2)  # the same task delivered again, or a second successor after a resume
    assert (redelivered.outcome, len(mail.outbox)) == ("already done", 4)
    assert (batch(3).outcome, len(mail.outbox)) == ("sent", 5)
    assert batch(3).outcome == "already done" and not batch(3).more
    assert sorted(message.to[0] for message in mail.outbox) == sorted(member.email for member in members)
    announcement.refresh_from_db()
    progress = announcements.announcement_progress(announcement=announcement)
    assert (announcement.status, progress.reached, progress.total, progress.percent) == ("done", 5, 5, 100)
    assert AnnouncementDelivery.objects.filter(announcement=announcement).count() == 5


# --- unsubscribing ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_unsubscribe_link_asks_first_and_its_post_opts_the_member_out(bob):
    verify(bob)
    url = announcements.announcement_unsubscribe_url(member_id=bob.pk).removeprefix("http://127.0.0.1:8000")
    page = Client().get(url)
    assert page.status_code == 200 and ">Unsubscribe</button>" in page.content.decode()
    assert not Profile.objects.get(user=bob).announcements_opt_out  # opening the link changes nothing
    done = Client().post(url)
    assert done.status_code == 200 and "You are unsubscribed" in done.content.decode()
    assert Profile.objects.get(user=bob).announcements_opt_out
    assert not announcements.announcement_recipients().filter(pk=bob.pk).exists()


@pytest.mark.django_db
def test_a_mail_clients_one_click_post_unsubscribes_without_cookies_or_csrf_token(bob):
    verify(bob)
    url = announcements.announcement_unsubscribe_url(member_id=bob.pk).removeprefix("http://127.0.0.1:8000")
    response = Client(enforce_csrf_checks=True).post(url, "List-Unsubscribe=One-Click",
                                                     content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert Profile.objects.get(user=bob).announcements_opt_out


@pytest.mark.django_db
def test_an_altered_unsubscribe_link_is_refused(bob):
    verify(bob)
    token = announcements.announcement_unsubscribe_token(member_id=bob.pk)
    response = Client().post(f"/accounts/unsubscribe/{token[:-2]}xx/")
    assert response.status_code == 400 and "not valid" in response.content.decode()
    assert not Profile.objects.get(user=bob).announcements_opt_out


# --- bulk approval's notifications --------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_approval_queues_one_task_per_batch_of_notifications(
        alice, bob, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BATCH_SIZE = 4
    post = make_post(alice)
    held = [make_comment(post, bob, body=f"comment {n}") for n in range(10)]
    with django_capture_on_commit_callbacks(execute=True):
        won = comments.comments_decide(comment_ids=[c.pk for c in held], moderator=alice, new_status="approved",
                                       expected_status="held")
    assert len(won) == 10
    assert OutboundEmail.objects.filter(kind="comment_approved").count() == 10
    queued = TaskResult.objects.filter(task_name__startswith="blog.tasks.email_")
    assert sorted(queued.values_list("task_name", flat=True)) == ["blog.tasks.email_batch_send_task"] * 3


# --- the worker: batches, redelivery, SMTP down then up ------------------------------------------


@pytest.mark.live
def test_n_members_go_out_in_ceil_n_over_batch_tasks_each_member_once(transactional_db, own_redis, alice, charlie):
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    worker = start_worker("announce-worker", env={
        "REDIS_URL": own_redis.url, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "ANNOUNCEMENT_BATCH_SIZE": "3",
    })
    try:
        members = verified_members(7)
        opted_out(charlie)
        make_user("dora")  # unverified
        announcement = make_announcement(alice)
        send_on(own_redis, announcement_batch_task(), announcement.pk, 1)
        wait_for(lambda: Announcement.objects.get(pk=announcement.pk).status == "done"
                 and all_finished(batch_tasks()), timeout=60)
        tasks = batch_tasks()
        assert len(tasks) == math.ceil(7 / 3)  # one task per batch, not one per email
        assert [json.loads(task.result)["members"] for task in tasks] == [3, 3, 1]
        wait_for(lambda: len(inbox.messages) == 7, timeout=30)
        assert inbox.recipients() == sorted(member.email for member in members)
        by_address = {member.email: member for member in members}
        for message in inbox.parsed():
            link = announcements.announcement_unsubscribe_url(member_id=by_address[message["To"]].pk)
            assert message["List-Unsubscribe"].strip() == f"<{link}>"  # each member's own link
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert link in message.get_content()
        # The first batch delivered again: nothing more is sent, no new batch is queued.
        again = send_on(own_redis, announcement_batch_task(), announcement.pk, 1)
        wait_for(lambda: TaskResult.objects.filter(task_id=again.id, status=states.SUCCESS).exists(), timeout=30)
        assert json.loads(TaskResult.objects.get(task_id=again.id).result)["outcome"] == "already done"
        assert len(batch_tasks()) == 4 and len(inbox.messages) == 7
    finally:
        worker.stop()
        controller.stop()


@pytest.mark.live
def test_smtp_down_then_up_every_member_gets_the_announcement_once(transactional_db, own_redis, alice):
    from blog.tasks import email_sweep_task

    port = free_port()
    worker = start_worker("announce-smtp-worker", env={
        "REDIS_URL": own_redis.url, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "3",
        "ANNOUNCEMENT_BATCH_SIZE": "2", "EMAIL_RETRY_BACKOFF_SECONDS": "1", "EMAIL_RETRY_BACKOFF_MAX_SECONDS": "1",
        "EMAIL_SEND_MAX_ATTEMPTS": "30",
    })
    inbox, controller = Inbox(), None
    try:
        members = verified_members(5)
        announcement = make_announcement(alice)
        send_on(own_redis, announcement_batch_task(), announcement.pk, 1)
        # SMTP down: every member is handed to the outbox; their emails wait, queued, with the error.
        wait_for(lambda: Announcement.objects.get(pk=announcement.pk).status == "done"
                 and all_finished(batch_tasks()), timeout=60)
        assert len(batch_tasks()) == 3
        emails = OutboundEmail.objects.filter(kind="announcement")
        assert emails.count() == 5
        assert all(e.status == "queued" and e.attempts >= 1 and e.last_error for e in emails)
        progress = announcements.announcement_progress(announcement=Announcement.objects.get(pk=announcement.pk))
        assert (progress.reached, progress.waiting, progress.total) == (0, 5, 5)

        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()

        def swept_until_all_sent():
            if not emails.exclude(status="sent").exists():
                return True
            sweep = send_on(own_redis, email_sweep_task)
            wait_for(lambda: TaskResult.objects.filter(task_id=sweep.id, status__in=states.READY_STATES).exists(),
                     timeout=30)
            return False

        wait_for(swept_until_all_sent, timeout=60, interval=1.0)
        wait_for(lambda: all_finished(list(TaskResult.objects.filter(task_name="blog.tasks.email_batch_send_task"))),
                 timeout=30)
        assert inbox.recipients() == sorted(member.email for member in members)  # once each
        progress = announcements.announcement_progress(announcement=Announcement.objects.get(pk=announcement.pk))
        assert (progress.reached, progress.waiting, progress.total) == (5, 0, 5)
    finally:
        if controller is not None:
            controller.stop()
        worker.stop()


def announcement_batch_task():
    from blog.tasks import announcement_batch_task as task

    return task


# --- the browser --------------------------------------------------------------------------------


@pytest.mark.live
def test_staff_send_an_announcement_watch_the_bar_pause_and_resume_until_everyone_is_reached(
        transactional_db, own_redis, page, alice):
    from playwright.sync_api import expect

    port = free_port()
    inbox = Inbox(allowed=4)  # two batches of two go through, then the third waits in the SMTP server
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = {"REDIS_URL": own_redis.url, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "60",
           "ANNOUNCEMENT_BATCH_SIZE": "2"}
    worker = start_worker("announce-browser-worker", env=env)
    server = start_daphne("announce-daphne", env=env)
    try:
        members = verified_members(10)
        grant(alice, SEND)
        browser_login(page, server.url, "alice")
        page.goto(f"{server.url}/dashboard/announcements/")
        page.get_by_label("Subject").fill("Spring news")
        page.get_by_label("Body").fill("The blog has a new look.")
        page.get_by_role("button", name="Send to 10 members").click()
        page.wait_for_url("**/dashboard/announcements/*/")
        announcement = Announcement.objects.get()
        bar = page.locator(f"#announcement-{announcement.pk}-progress")

        expect(bar).to_have_attribute("data-reached", "4")  # the bar moved, pushed live: 4 of 10
        assert "40%" in bar.locator(".percent-value").inner_text()
        wait_for(lambda: inbox.held == 1, timeout=30)  # the third batch is being sent
        page.get_by_role("button", name="Pause").click()
        expect(bar).to_have_attribute("data-status", "paused")
        inbox.allow(2)  # the batch being sent when paused finishes ...
        expect(bar).to_have_attribute("data-reached", "6")
        # ... and no other starts: once every batch task has ended, six members were handed over.
        wait_for(lambda: all_finished(batch_tasks()), timeout=30)
        assert AnnouncementDelivery.objects.count() == 6 and len(inbox.messages) == 6
        assert "Resume" in bar.inner_text()

        inbox.allow(math.inf)
        page.get_by_role("button", name="Resume").click()
        expect(bar).to_have_attribute("data-reached", "10", timeout=30_000)
        expect(bar).to_have_attribute("data-status", "done")
        assert "100%" in bar.locator(".percent-value").inner_text()
        assert "10 of 10 members reached" in " ".join(bar.inner_text().split())
        assert inbox.recipients() == sorted(member.email for member in members)  # everyone, once
    finally:
        server.stop()
        worker.stop()
        controller.stop()
