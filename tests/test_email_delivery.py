"""Emails through Celery: a real worker, a real local SMTP server (aiosmtpd) that is down, then up."""

from __future__ import annotations

import json

import pytest
from aiosmtpd.controller import Controller
from celery import states
from django.core import mail
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


@pytest.mark.live
def test_smtp_down_then_back_delivers_once_even_when_the_task_runs_twice(transactional_db):
    port = free_port()
    worker = start_worker("smtp-worker", "--queues", QUEUE, env={
        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "3",
        "EMAIL_RETRY_BACKOFF_SECONDS": "1", "EMAIL_RETRY_BACKOFF_MAX_SECONDS": "1", "EMAIL_SEND_MAX_ATTEMPTS": "30",
    })
    inbox, controller = Inbox(), None
    try:
        email = _email()
        first = email_send_task.apply_async((email.pk,), queue=QUEUE)
        second = email_send_task.apply_async((email.pk,), queue=QUEUE)  # a duplicate delivery of the same job
        wait_for(lambda: OutboundEmail.objects.get(pk=email.pk).attempts >= 2, timeout=30)
        failing = OutboundEmail.objects.get(pk=email.pk)
        assert failing.status in ("queued", "sending")
        assert "ConnectionRefusedError" in failing.last_error
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        wait_for(lambda: OutboundEmail.objects.get(pk=email.pk).status == "sent", timeout=40)
        # Both jobs have ended (retries keep the task id): no run is left that could send it again.
        outcomes = wait_for(lambda: _outcomes(first.id, second.id), timeout=40)
        assert sorted(outcomes) == ["sent", "skipped"]
        assert len(inbox.messages) == 1
        assert inbox.messages[0].rcpt_tos == ["dora@example.com"]
        assert OutboundEmail.objects.get(pk=email.pk).sent_at is not None
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


def test_last_attempt_marks_the_email_failed_with_the_reason(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.EMAIL_SEND_MAX_ATTEMPTS = 2
    email = _email()
    with pytest.raises(ConnectionRefusedError):
        outbox.email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("queued", 1)
    with pytest.raises(outbox.EmailDeliveryFailed):
        outbox.email_send(email_id=email.pk)
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("failed", 2)
    assert email.last_error.startswith("ConnectionRefusedError")


def test_sent_or_claimed_email_is_never_sent_again(db):
    email = _email()
    assert outbox.email_send(email_id=email.pk) == "sent"
    assert outbox.email_send(email_id=email.pk) == "skipped"
    claimed = _email(status="sending")
    assert outbox.email_send(email_id=claimed.pk) == "skipped"
    assert len(mail.outbox) == 1


def test_sweep_requeues_only_rows_left_unsent(db, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(hours=1)
    stale_queued, stuck_sending, fresh, sent = _email(), _email(status="sending"), _email(), _email(status="sent")
    OutboundEmail.objects.filter(pk__in=[stale_queued.pk, stuck_sending.pk, sent.pk]).update(updated_at=old)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert outbox.email_sweep() == 2
    assert len(callbacks) == 2
    assert OutboundEmail.objects.get(pk=stuck_sending.pk).status == "queued"
    assert OutboundEmail.objects.get(pk=fresh.pk).status == "queued"
    assert OutboundEmail.objects.get(pk=sent.pk).status == "sent"
