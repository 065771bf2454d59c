"""The email outbox: every email the site sends is an OutboundEmail row written in the transaction
of its cause, then sent by a Celery task after commit.

Members and comments only queue rows here (email_queue); claiming, sending, retrying and sweeping
live in this module so that the rule "never sent twice" is enforced in one place.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Case, F, TextField, Value, When
from django.utils import timezone

from blog.models import OutboundEmail

logger = logging.getLogger(__name__)

#: Errors worth trying again later: the SMTP server or the network, not the message itself.
TRANSIENT_EMAIL_ERRORS = (smtplib.SMTPException, OSError)


def email_queue(*, to: str, subject: str, body: str, kind: str) -> OutboundEmail:
    """Record an email in the current transaction; it is handed to Celery after commit."""
    email = OutboundEmail.objects.create(to=to, subject=subject, body=body, kind=kind)
    _send_after_commit(email.pk)
    return email


def _send_after_commit(email_id: int) -> None:
    from blog.tasks import email_send_task

    email_send_task.delay_on_commit(email_id)


class EmailDeliveryFailed(Exception):
    """The last attempt failed: the row is marked failed and nobody will retry it automatically."""


def email_send(*, email_id: int) -> str:
    """Send one queued email. Returns "sent", or "skipped" when another run already has it.
    The body of a secret kind (OutboundEmail.SECRET_KINDS) is blanked once it is sent.

    The row is claimed (queued -> sending) by a conditional update: if the task runs twice, only
    one run gets the row, so the message is never sent twice. On a transient error the row goes
    back to queued with the error and the exception propagates so the task retries with back-off;
    after EMAIL_SEND_MAX_ATTEMPTS (or on a permanent error) it is marked failed with the reason.
    """
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.QUEUED).update(
        status=OutboundEmail.Status.SENDING, updated_at=now
    )
    if not claimed:
        return "skipped"
    email = OutboundEmail.objects.get(pk=email_id)
    attempts = email.attempts + 1
    try:
        message = EmailMessage(
            subject=email.subject, body=email.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email.to],
            connection=get_connection(fail_silently=False),
        )
        message.send()
    except Exception as error:
        transient = isinstance(error, TRANSIENT_EMAIL_ERRORS)
        final = not transient or attempts >= settings.EMAIL_SEND_MAX_ATTEMPTS
        reason = f"{type(error).__name__}: {error}"[:2000]
        OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.SENDING).update(
            status=OutboundEmail.Status.FAILED if final else OutboundEmail.Status.QUEUED,
            attempts=attempts, last_error=reason, updated_at=timezone.now(),
        )
        if final:
            logger.warning("email %s failed for good after %s attempt(s): %s", email_id, attempts, reason)
            raise EmailDeliveryFailed(reason) from error
        logger.info("email %s attempt %s failed, will retry: %s", email_id, attempts, reason)
        raise
    # Marked sent whatever the row's status now (the sweep may have re-queued a slow send): the
    # message is out, and a re-queued run must find it sent, so it is never sent twice. A one-time
    # account link has reached its owner and is of no use to anyone else: its body is blanked in the
    # same update, so the key does not stay readable in the database, the admin or a backup.
    OutboundEmail.objects.filter(pk=email_id).update(
        status=OutboundEmail.Status.SENT, attempts=attempts, sent_at=timezone.now(), updated_at=timezone.now(),
        body=Case(When(kind__in=OutboundEmail.SECRET_KINDS, then=Value("")), default=F("body"),
                  output_field=TextField()),
    )
    return "sent"


def email_sweep(*, queued_after_seconds: int | None = None, sending_after_seconds: int | None = None) -> int:
    """Queue again emails left unsent: "queued" for longer than any back-off (the task was lost,
    e.g. a crash between commit and enqueue) or "sending" for too long (a worker died mid-send).
    Returns how many were re-queued. A duplicate task is harmless: the claim lets one through."""
    now = timezone.now()
    queued_after = settings.EMAIL_SWEEP_QUEUED_AFTER_SECONDS if queued_after_seconds is None else queued_after_seconds
    sending_after = (
        settings.EMAIL_SWEEP_SENDING_AFTER_SECONDS if sending_after_seconds is None else sending_after_seconds
    )
    stuck_sending = list(
        OutboundEmail.objects.filter(
            status=OutboundEmail.Status.SENDING, updated_at__lt=now - timedelta(seconds=sending_after)
        ).values_list("pk", flat=True)
    )
    OutboundEmail.objects.filter(pk__in=stuck_sending, status=OutboundEmail.Status.SENDING).update(
        status=OutboundEmail.Status.QUEUED, updated_at=now, last_error="re-queued: stuck while sending"
    )
    stale_queued = list(
        OutboundEmail.objects.filter(
            status=OutboundEmail.Status.QUEUED, updated_at__lt=now - timedelta(seconds=queued_after)
        ).values_list("pk", flat=True)
    )
    ids = sorted(set(stale_queued) | set(stuck_sending))
    for pk in ids:
        _send_after_commit(pk)
    if ids:
        logger.info("email sweep re-queued %s email(s)", len(ids))
    return len(ids)


def email_requeue_failed(*, email_id: int) -> bool:
    """Staff action: try a failed email again from scratch."""
    with transaction.atomic():
        changed = OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.FAILED).update(
            status=OutboundEmail.Status.QUEUED, attempts=0, updated_at=timezone.now()
        )
        if changed:
            _send_after_commit(email_id)
    return bool(changed)
