"""Emails through Celery: a real worker, a real local SMTP server (aiosmtpd) that is down, then up."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from celery import states
from django.core import mail
from django.utils import timezone
from django_celery_results.models import TaskResult

from blog.models import OutboundEmail
from blog.services import outbox
from blog.tasks import email_send_task
from site_config.devtools.local_redis import free_port
from tests.conftest import start_worker
from tests.livetools import wait_for

QUEUE = "smtp-test"


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def _outcomes(*task_ids: str) -> list[str] | None:
    """What each task returned, once every one of them has finished for good; else None."""
    rows = TaskResult.objects.filter(task_id__in=task_ids, status__in=states.READY_STATES)
    if rows.count() < len(task_ids):
        return None
    return [json.loads(row.result) for row in rows]


def _email(**fields) -> OutboundEmail:
    return OutboundEmail.objects.create(**{"to": "dora@example.com", "subject": "Hi", "body": "Hello",
                                           "kind": "verification", **fields})


@pytest.fixture
def own_redis():
    from site_config.devtools.local_redis import PrivateRedis
    from tests.plugin import WORKDIR

    redis = PrivateRedis(WORKDIR / "smtp-redis").start()
    yield redis
    redis.stop()


@pytest.mark.live
def test_smtp_outage_emails_wait_in_their_rows_and_go_out_once_when_it_is_back(transactional_db, own_redis):
    """SMTP down: every attempt plans the next one in the row and the task ends (no retry held in a
    worker); the sweep, run by the worker as beat would, sends what is due; each email arrives once,
    even when its task was delivered twice."""
    from blog.tasks import email_sweep_task
    from site_config.celery import app

    port = free_port()
    worker = start_worker("smtp-worker", env={
        "REDIS_URL": own_redis.url, "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "3",
        "EMAIL_RETRY_BACKOFF_SECONDS": "1", "EMAIL_RETRY_BACKOFF_MAX_SECONDS": "1", "EMAIL_SEND_MAX_ATTEMPTS": "30",
    })

    def send(task, *args):
        with app.connection_for_write(own_redis.url) as connection:
            return task.apply_async(args, connection=connection)

    inbox, controller = Inbox(), None
    try:
        emails = [_email(to=f"member{n}@example.com") for n in range(3)]
        first = [send(email_send_task, email.pk) for email in emails]
        duplicate = send(email_send_task, emails[0].pk)  # the same job delivered twice
        wait_for(lambda: _outcomes(*(r.id for r in first), duplicate.id), timeout=30)
        for email in emails:
            email.refresh_from_db()
            assert email.status == "queued" and email.attempts >= 1 and email.next_attempt_at is not None
            assert email.last_error.startswith("ConnectionRefusedError") and email.last_error_transient
        assert all(outcome == "skipped" or outcome.startswith("retry at ") for outcome in _outcomes(
            *(r.id for r in first), duplicate.id))  # every task ended: no retry waits in a worker
        def swept_until(done):
            """Run the sweep (as beat would every minute, here every second) until `done()`."""
            def check():
                if done():
                    return True
                sweep = send(email_sweep_task)
                wait_for(lambda: _outcomes(sweep.id), timeout=30)
                return False
            return wait_for(check, timeout=60, interval=1.0)

        # SMTP still down: the due ones are tried again when due, and wait again.
        swept_until(lambda: all(e.attempts >= 3 and e.status == "queued" for e in OutboundEmail.objects.all()))
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        swept_until(lambda: not OutboundEmail.objects.exclude(status="sent").exists())
        assert sorted(message.rcpt_tos[0] for message in inbox.messages) == [
            "member0@example.com", "member1@example.com", "member2@example.com"]  # once each
        sweep = send(email_sweep_task)
        assert wait_for(lambda: _outcomes(sweep.id), timeout=30) == [0]  # nothing left to send
        assert len(inbox.messages) == 3
    finally:
        if controller is not None:
            controller.stop()
        worker.stop()


@pytest.mark.live
def test_signup_email_is_sent_by_the_worker(live_worker, client):
    client.post("/accounts/signup/", {"username": "dora", "email": "dora@example.com",
                                      "password1": "correct-horse-battery-staple",
                                      "password2": "correct-horse-battery-staple"})
    email = OutboundEmail.objects.get(kind="verification")
    wait_for(lambda: OutboundEmail.objects.get(pk=email.pk).status == "sent", timeout=30)


def test_staff_sends_a_failed_email_again_and_the_worker_delivers_it(live_worker, client, alice):
    from tests.conftest import grant

    email = _email(status="failed", attempts=6, last_error="SMTPServerDisconnected: gone")
    client.force_login(grant(alice, "dashboard.resend_email"))
    response = client.post(f"/dashboard/outbox/{email.pk}/retry/", follow=True)
    assert f"Email {email.pk} queued again." in response.content.decode()
    wait_for(lambda: OutboundEmail.objects.get(pk=email.pk).status == "sent", timeout=30)
    email.refresh_from_db()
    assert email.attempts == 1 and email.sent_at is not None  # counted afresh, delivered on the first try
    # Only a failed email can be sent again: this one is sent, so a second click changes nothing.
    again = client.post(f"/dashboard/outbox/{email.pk}/retry/", follow=True)
    assert f"Email {email.pk} is not failed; nothing to retry." in again.content.decode()
    assert OutboundEmail.objects.get(pk=email.pk).attempts == 1


def test_a_failed_attempt_plans_the_next_and_the_last_marks_the_email_failed(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_SEND_MAX_ATTEMPTS = 2
    settings.EMAIL_RETRY_BACKOFF_SECONDS = 30
    email = _email()
    before = timezone.now()
    assert outbox.email_send(email_id=email.pk).startswith("retry at ")
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error_transient) == ("queued", 1, True)
    assert before + timedelta(seconds=29) <= email.next_attempt_at <= timezone.now() + timedelta(seconds=31)
    assert outbox.email_state(email).startswith("not sent yet: the mail server did not take it; retrying at ")
    with pytest.raises(outbox.EmailDeliveryFailed):
        outbox.email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("failed", 2)
    assert email.last_error.startswith("ConnectionRefusedError")


def test_the_default_schedule_outlasts_an_hour_of_outage(settings):
    waits = [outbox.email_retry_delay(attempt).total_seconds() for attempt in range(1, settings.EMAIL_SEND_MAX_ATTEMPTS)]
    assert waits[:3] == [30, 60, 120] and max(waits) == 900
    assert sum(waits) >= 3600


def test_sent_or_claimed_email_is_never_sent_again(db):
    email = _email()
    assert outbox.email_send(email_id=email.pk) == "sent"
    assert outbox.email_send(email_id=email.pk) == "skipped"
    claimed = _email(status="sending")
    assert outbox.email_send(email_id=claimed.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_sweep_sends_what_is_due_and_leaves_the_rest(db, django_capture_on_commit_callbacks, settings):
    now = timezone.now()
    old = now - timedelta(hours=1)
    rows = {
        "lost task": _email(),                                   # queued, nothing planned, long ago
        "stuck sending": _email(status="sending"),
        "due retry": _email(attempts=2, next_attempt_at=now - timedelta(seconds=5)),
        "failed, server down": _email(status="failed", attempts=6, last_error="SMTPServerDisconnected: gone",
                                      last_error_transient=True),
        "fresh": _email(),                                       # its task is on its way
        "retry later": _email(attempts=1, next_attempt_at=now + timedelta(minutes=5)),
        "failed, bad address": _email(status="failed", attempts=1, last_error="SMTPRecipientsRefused: no"),
        "failed, attempts spent": _email(status="failed", attempts=settings.EMAIL_SEND_MAX_ATTEMPTS,
                                         last_error="SMTPServerDisconnected: gone", last_error_transient=True),
        "sent": _email(status="sent"),
    }
    OutboundEmail.objects.filter(pk__in=[rows[name].pk for name in ("lost task", "stuck sending", "sent")]).update(
        updated_at=old)
    settings.EMAIL_BATCH_SIZE = 3
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert outbox.email_sweep(now=now) == 4
    # In batch tasks of EMAIL_BATCH_SIZE, not one task per email.
    batches = [callback.args[0] for callback in callbacks]
    assert [len(batch) for batch in batches] == [3, 1]
    assert sorted(sum(batches, [])) == sorted(rows[name].pk for name in (
        "lost task", "stuck sending", "due retry", "failed, server down"))
    status = {name: OutboundEmail.objects.get(pk=email.pk).status for name, email in rows.items()}
    assert status == {"lost task": "queued", "stuck sending": "queued", "due retry": "queued",
                      "failed, server down": "queued", "fresh": "queued", "retry later": "queued",
                      "failed, bad address": "failed", "failed, attempts spent": "failed", "sent": "sent"}


def test_after_sign_up_the_page_follows_the_emails_real_state(db, client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    page = client.post("/accounts/signup/", {"username": "dora", "email": "dora@example.com",
                                             "password1": "correct-horse-battery-staple",
                                             "password2": "correct-horse-battery-staple"})
    html = page.content.decode()
    assert 'id="email-state"' in html and 'data-state="queued"' in html and 'hx-trigger="every 3s"' in html
    poll = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    email = OutboundEmail.objects.get(to="dora@example.com")
    outbox.email_send(email_id=email.pk)  # the mail server is down
    state = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert "not sent yet: the mail server did not take it; retrying at " in state and "every 3s" in state
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutboundEmail.objects.filter(pk=email.pk).update(next_attempt_at=None)
    assert outbox.email_send(email_id=email.pk) == "sent"
    state = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-state="sent"' in state and "every 3s" not in state  # final: the page stops asking
    # Without the signed token (or with a forged one) there is no email to follow.
    from django.test import Client

    assert "data-state" not in Client().get("/accounts/email-state/").content.decode()
    forged = poll.split("?e=")[0] + "?e=" + str(email.pk)
    assert "data-state" not in Client().get(forged).content.decode()


def test_a_member_waiting_for_the_link_sees_its_state_on_the_posts(db, client, settings):
    from tests.blog_helpers import make_post
    from tests.conftest import make_user

    member = make_user("erin")
    OutboundEmail.objects.create(to=member.email, subject="Confirm", body="link", kind="verification",
                                 status="queued", attempts=2, last_error="SMTPServerDisconnected: gone",
                                 last_error_transient=True, next_attempt_at=timezone.now() + timedelta(minutes=2))
    client.force_login(member)
    post = make_post(make_user("author", staff=True))
    html = client.get(f"/blog/{post.slug}/").content.decode()
    assert "Please confirm your email address" in html
    assert "not sent yet: the mail server did not take it; retrying at " in html
