"""The email outbox: every email the site sends is an OutboundEmail row written in the transaction
of its cause, then sent by a Celery task after commit.

Members and comments only queue rows here (email_queue); claiming, sending, retrying and sweeping
live in this module so that the rule "never sent twice" is enforced in one place.

Retries live in the row, not in a worker's memory: a failed attempt writes when the next one is due
(`next_attempt_at`, doubling from EMAIL_RETRY_BACKOFF_SECONDS up to EMAIL_RETRY_BACKOFF_MAX_SECONDS)
and the task ends; the sweep, every minute, sends what is due. So an SMTP outage of an hour or more
costs a few rows waiting, not tasks held past the broker's visibility timeout (and run twice), and a
worker restart loses nothing. EMAIL_SEND_MAX_ATTEMPTS bounds the attempts (the defaults span more
than an hour); after that the row is failed with the reason.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from blog.models import OutboundEmail
from blog.signals import emails_sent

logger = logging.getLogger(__name__)

#: Errors worth trying again later: the SMTP server or the network, not the message itself.
TRANSIENT_EMAIL_ERRORS = (smtplib.SMTPException, OSError)


def email_queue(*, to: str, subject: str, body: str, kind: str, headers: dict | None = None) -> OutboundEmail:
    """Record an email in the current transaction; it is handed to Celery after commit."""
    email = OutboundEmail.objects.create(to=to, subject=subject, body=body, kind=kind, headers=headers or {})
    _send_after_commit(email.pk)
    return email


def emails_queue(*, messages: list[dict]) -> list[OutboundEmail]:
    """Record many emails (dicts of to, subject, body, kind and optional headers) in the current
    transaction; after commit they go to Celery as one task per EMAIL_BATCH_SIZE, not one each."""
    if not messages:
        return []
    emails = OutboundEmail.objects.bulk_create(OutboundEmail(**message) for message in messages)
    emails_hand_over(email_ids=[email.pk for email in emails])
    return emails


def emails_hand_over(*, email_ids: list[int]) -> int:
    """Queue one batch task per EMAIL_BATCH_SIZE of these emails after commit; returns how many tasks."""
    from blog.tasks import email_batch_send_task

    size = settings.EMAIL_BATCH_SIZE
    chunks = [email_ids[start:start + size] for start in range(0, len(email_ids), size)]
    for chunk in chunks:
        email_batch_send_task.delay_on_commit(chunk)
    return len(chunks)


def _send_after_commit(email_id: int) -> None:
    from blog.tasks import email_send_task

    email_send_task.delay_on_commit(email_id)


class EmailDeliveryFailed(Exception):
    """The last attempt failed: the row is marked failed and nobody will retry it automatically."""


def _claim(email_id: int) -> bool:
    """queued -> sending, a conditional update: of two runs for the same email only one gets it."""
    return bool(OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.QUEUED).update(
        status=OutboundEmail.Status.SENDING, updated_at=timezone.now()
    ))


def _message(email: OutboundEmail, connection) -> EmailMessage:
    return EmailMessage(
        subject=email.subject, body=email.body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email.to],
        headers=email.headers or None, connection=connection,
    )


#: An update's value for `body`: empty for a secret kind (OutboundEmail.SECRET_KINDS), else unchanged.
_BLANK_IF_SECRET = Case(When(kind__in=OutboundEmail.SECRET_KINDS, then=Value("")), default=F("body"),
                        output_field=TextField())


def _record_failure(email: OutboundEmail, error: Exception) -> tuple[bool, str]:
    """Put a claimed email back to queued with its next attempt, or mark it failed for good.
    Returns (final, reason or next attempt time)."""
    attempts = email.attempts + 1
    transient = isinstance(error, TRANSIENT_EMAIL_ERRORS)
    final = not transient or attempts >= settings.EMAIL_SEND_MAX_ATTEMPTS
    reason = f"{type(error).__name__}: {error}"[:2000]
    next_attempt_at = None if final else timezone.now() + email_retry_delay(attempts)
    # Failed for good, a one-time account link will never be sent: its body is blanked like a sent
    # one's (the person asks for a new link; "Send again" is not offered for it).
    blank = {"body": _BLANK_IF_SECRET} if final else {}
    OutboundEmail.objects.filter(pk=email.pk, status=OutboundEmail.Status.SENDING).update(
        status=OutboundEmail.Status.FAILED if final else OutboundEmail.Status.QUEUED,
        attempts=attempts, last_error=reason, last_error_transient=transient,
        next_attempt_at=next_attempt_at, updated_at=timezone.now(), **blank,
    )
    if final:
        logger.warning("email %s failed for good after %s attempt(s): %s", email.pk, attempts, reason)
        return True, reason
    logger.info("email %s attempt %s failed, next attempt at %s: %s", email.pk, attempts,
                next_attempt_at.isoformat(timespec="seconds"), reason)
    return False, next_attempt_at.isoformat(timespec="seconds")


def _record_sent(email: OutboundEmail) -> None:
    # Marked sent whatever the row's status now (the sweep may have re-queued a slow send): the
    # message is out, and a re-queued run must find it sent, so it is never sent twice. A one-time
    # account link has reached its owner and is of no use to anyone else: its body is blanked in the
    # same update, so the key does not stay readable in the database, the admin or a backup.
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=OutboundEmail.Status.SENT, attempts=email.attempts + 1, sent_at=timezone.now(),
        updated_at=timezone.now(),
        body=_BLANK_IF_SECRET,
    )


def email_send(*, email_id: int) -> str:
    """Send one queued email. Returns "sent", "retry at <time>", or "skipped" when another run has it.
    The body of a secret kind (OutboundEmail.SECRET_KINDS) is blanked once it is sent.

    The row is claimed (queued -> sending) by a conditional update: if the task runs twice, only
    one run gets the row, so the message is never sent twice. On a transient error the row goes
    back to queued with the error and the time of its next attempt (the sweep sends it then);
    after EMAIL_SEND_MAX_ATTEMPTS (or on a permanent error) it is marked failed with the reason.
    """
    if not _claim(email_id):
        return "skipped"
    email = OutboundEmail.objects.get(pk=email_id)
    try:
        _message(email, get_connection(fail_silently=False)).send()
    except Exception as error:
        final, detail = _record_failure(email, error)
        if final:
            raise EmailDeliveryFailed(detail) from error
        return "retry at " + detail
    _record_sent(email)
    _tell_sent([email])
    return "sent"


def _connection_lost(error: Exception) -> bool:
    """The server or the network is gone (not one message refused): the rest of a batch would fail too."""
    if isinstance(error, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError)):
        return True
    return isinstance(error, OSError) and not isinstance(error, smtplib.SMTPException)


def emails_send(*, email_ids: list[int], on_progress=None) -> dict[str, int]:
    """Send a batch of queued emails over one connection. Returns counts: sent, retry, failed, skipped.

    Each email is claimed like email_send's (never sent twice, whoever else runs it) and its outcome
    is recorded in its own row; a failure never stops the others, except that when the server or the
    network is gone, the rest of the batch is put back with the same error instead of each waiting
    for its own timeout. The sweep sends them again when due (the same back-off as email_send).
    `on_progress(done, total)` is called after each email (a task's report_progress).
    """
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    claimed = [pk for pk in email_ids if _claim(pk)]
    counts["skipped"] = len(email_ids) - len(claimed)
    emails = list(OutboundEmail.objects.filter(pk__in=claimed).order_by("pk"))
    connection = get_connection(fail_silently=False)
    sent: list[OutboundEmail] = []
    lost: Exception | None = None
    opened = False
    try:
        for done, email in enumerate(emails, 1):
            try:
                if lost is not None:
                    raise lost
                if not opened:  # opened once: a message sent on a closed connection opens and closes one
                    connection.open()
                    opened = True
                _message(email, connection).send()
            except Exception as error:
                final, _ = _record_failure(email, error)
                counts["failed" if final else "retry"] += 1
                if lost is None and _connection_lost(error):
                    lost = error
            else:
                _record_sent(email)
                sent.append(email)
                counts["sent"] += 1
            if on_progress is not None:
                on_progress(done, len(emails))
    finally:
        try:
            connection.close()
        except Exception:  # closing a broken connection: nothing left to save
            logger.debug("closing the SMTP connection failed", exc_info=True)
    _tell_sent(sent)
    return counts


def _tell_sent(emails: list[OutboundEmail]) -> None:
    if emails:
        emails_sent.send_robust(sender=OutboundEmail, email_ids=[email.pk for email in emails],
                                kinds={email.kind for email in emails})


def email_retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th failed attempt an email is tried again."""
    base, cap = settings.EMAIL_RETRY_BACKOFF_SECONDS, settings.EMAIL_RETRY_BACKOFF_MAX_SECONDS
    return timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))


def email_sweep(*, now=None, queued_after_seconds: int | None = None, sending_after_seconds: int | None = None) -> int:
    """Hand to Celery every email that should be sent now; returns how many. Runs every minute.

    - queued, and its next attempt is due;
    - queued with no attempt planned for longer than EMAIL_SWEEP_QUEUED_AFTER_SECONDS (its task was
      lost: a crash between commit and enqueue, a broker restart);
    - "sending" for too long (a worker died mid-send): queued again;
    - failed on a transient error with attempts left (failed under an older, shorter schedule).
    They go out in batch tasks (EMAIL_BATCH_SIZE each). A duplicate task is harmless: the claim
    lets one through.
    """
    now = now or timezone.now()
    queued_after = settings.EMAIL_SWEEP_QUEUED_AFTER_SECONDS if queued_after_seconds is None else queued_after_seconds
    sending_after = (
        settings.EMAIL_SWEEP_SENDING_AFTER_SECONDS if sending_after_seconds is None else sending_after_seconds
    )
    Status = OutboundEmail.Status
    OutboundEmail.objects.filter(status=Status.SENDING, updated_at__lt=now - timedelta(seconds=sending_after)).update(
        status=Status.QUEUED, next_attempt_at=now, updated_at=now, last_error="re-queued: stuck while sending"
    )
    OutboundEmail.objects.filter(
        status=Status.FAILED, last_error_transient=True, attempts__lt=settings.EMAIL_SEND_MAX_ATTEMPTS
    ).update(status=Status.QUEUED, next_attempt_at=now, updated_at=now)
    due = OutboundEmail.objects.filter(status=Status.QUEUED).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, updated_at__lt=now - timedelta(seconds=queued_after))
    )
    ids = list(due.order_by("pk").values_list("pk", flat=True)[:5000])
    emails_hand_over(email_ids=ids)
    if ids:
        logger.info("email sweep handed %s email(s) to the workers", len(ids))
    return len(ids)


def email_state(email: OutboundEmail) -> str:
    """The email's state in words, for the person waiting for it."""
    Status = OutboundEmail.Status
    if email.status == Status.SENT:
        return pgettext("email state", "sent")
    if email.status == Status.SENDING:
        return pgettext("email state", "sending")
    if email.status == Status.FAILED:
        # The error's first word is the exception's class name: an identifier, left as it is.
        return gettext("could not be sent (%(error)s)") % {"error": email.last_error.split(":", 1)[0]}
    if email.attempts and email.next_attempt_at:
        when = timezone.localtime(email.next_attempt_at).strftime("%H:%M")
        return gettext("not sent yet: the mail server did not take it; retrying at %(time)s") % {"time": when}
    return pgettext("email state", "queued")


def email_requeue_failed(*, email_id: int) -> bool:
    """Staff action: try a failed email again from scratch (not a secret one whose body is blanked)."""
    with transaction.atomic():
        # A blanked one-time link has nothing left to send: its owner asks for a new link.
        changed = OutboundEmail.objects.filter(pk=email_id, status=OutboundEmail.Status.FAILED).exclude(
            kind__in=OutboundEmail.SECRET_KINDS, body="").update(
            status=OutboundEmail.Status.QUEUED, attempts=0, next_attempt_at=None, updated_at=timezone.now()
        )
        if changed:
            _send_after_commit(email_id)
    return bool(changed)
