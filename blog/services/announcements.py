"""Announcements: a message from staff to every verified member, sent through the outbox in batches.

One Celery task per batch of ANNOUNCEMENT_BATCH_SIZE members (blog.tasks.announcement_batch_task):
it takes the next members after the announcement's cursor (primary-key order), writes one
AnnouncementDelivery and one outbox row each, commits, sends them over one SMTP connection
(outbox.emails_send), then queues the next batch. Nothing is ever sent twice:

- a delivery row is unique per (announcement, member), and the batch is chosen and written while
  the announcement row is locked, so two runs can never take the same members;
- batch task N runs only when N - 1 batches are done: a redelivered task, or a second successor
  queued when a resume raced a running batch, finds its batch done and does nothing more;
- each outbox row is claimed before it is sent (outbox), and a failure leaves it queued with its
  next attempt: the email sweep sends it when due, with the outbox's back-off (an SMTP outage
  delays the announcement, it loses nothing).

Pausing is a conditional update (sending -> paused); the running batch finishes and no next one is
queued. Resuming (paused -> sending) queues the batch after the last one done. Members who opted
out (the unsubscribe link in every announcement, Profile.announcements_opt_out) are skipped, as are
unverified and inactive accounts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from blog.models import Announcement, AnnouncementDelivery, OutboundEmail, Profile
from blog.services import members, outbox
from blog.signals import announcement_changed

logger = logging.getLogger(__name__)

User = get_user_model()

UNSUBSCRIBE_SALT = "blog.announcements-unsubscribe"
EMAIL_KIND = "announcement"


def announcement_recipients():
    """Members an announcement goes to: active, email verified, not opted out, in primary-key order."""
    return (
        User.objects.filter(is_active=True, profile__email_verified_at__isnull=False,
                            profile__announcements_opt_out=False)
        .exclude(email="")
        .order_by("pk")
    )


def announcement_create(*, subject: str, body: str, author) -> Announcement:
    """Save the announcement and queue its first batch after commit (recorded as launched by `author`)."""
    from blog.tasks import announcement_batch_task

    with transaction.atomic():
        total = announcement_recipients().count()
        announcement = Announcement.objects.create(
            subject=subject, body=body, created_by=author, recipients_total=total,
            status=Announcement.Status.SENDING if total else Announcement.Status.DONE,
            finished_at=None if total else timezone.now(),
        )
        if total:
            announcement_batch_task.delay_for_on_commit(author, announcement.pk, 1)
    return announcement


def announcement_pause(*, announcement_id: int) -> bool:
    """sending -> paused. The batch running now finishes; no further batch starts."""
    with transaction.atomic():
        changed = Announcement.objects.filter(pk=announcement_id, status=Announcement.Status.SENDING).update(
            status=Announcement.Status.PAUSED, updated_at=timezone.now()
        )
        if changed:
            _tell_changed_after_commit(announcement_id)
    return bool(changed)


def announcement_resume(*, announcement_id: int, user) -> bool:
    """paused -> sending, and queue the batch after the last one done."""
    from blog.tasks import announcement_batch_task

    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().filter(pk=announcement_id).first()
        if announcement is None or announcement.status != Announcement.Status.PAUSED:
            return False
        Announcement.objects.filter(pk=announcement_id).update(
            status=Announcement.Status.SENDING, updated_at=timezone.now()
        )
        announcement_batch_task.delay_for_on_commit(user, announcement_id, announcement.batches_done + 1)
        _tell_changed_after_commit(announcement_id)
    return True


@dataclass
class BatchOutcome:
    outcome: str  # "sent", "paused", "done", "already done", "gone"
    members: int = 0
    more: bool = False
    emails: dict | None = None


def announcement_batch_send(*, announcement_id: int, batch_number: int, on_progress=None) -> BatchOutcome:
    """Hand batch `batch_number` to the outbox and send it (see the module docstring). The caller
    queues batch `batch_number + 1` when `more` is set."""
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().filter(pk=announcement_id).first()
        if announcement is None:
            return BatchOutcome("gone")
        if announcement.batches_done >= batch_number:
            # Delivered again, or queued twice around a resume. If it is the latest batch and its
            # successor may have been lost with the first run, queue it: a duplicate does nothing.
            more = (announcement.status == Announcement.Status.SENDING
                    and announcement.batches_done == batch_number)
            return BatchOutcome("already done", more=more)
        if announcement.status != Announcement.Status.SENDING:
            return BatchOutcome(announcement.status)
        batch = list(
            announcement_recipients().filter(pk__gt=announcement.last_member_id)
            .values_list("pk", "email")[: settings.ANNOUNCEMENT_BATCH_SIZE]
        )
        languages = members.member_languages(user_ids=[member_id for member_id, _ in batch])
        emails = OutboundEmail.objects.bulk_create(
            _email(announcement, member_id, address, languages[member_id])
            for member_id, address in batch
        )
        AnnouncementDelivery.objects.bulk_create(
            AnnouncementDelivery(announcement=announcement, member_id=member_id, email=email)
            for (member_id, _), email in zip(batch, emails, strict=True)
        )
        if batch:
            announcement.last_member_id = batch[-1][0]
        remaining = announcement_recipients().filter(pk__gt=announcement.last_member_id).count()
        announcement.batches_done = batch_number
        announcement.recipients_total = announcement.deliveries.count() + remaining
        if not remaining:
            announcement.status = Announcement.Status.DONE
            announcement.finished_at = timezone.now()
        announcement.save(update_fields=["last_member_id", "batches_done", "recipients_total", "status",
                                         "finished_at", "updated_at"])
        _tell_changed_after_commit(announcement_id)
    counts = outbox.emails_send(email_ids=[email.pk for email in emails], on_progress=on_progress)
    return BatchOutcome("sent", members=len(batch), more=bool(remaining), emails=counts)


def announcement_is_sending(*, announcement_id: int) -> bool:
    return Announcement.objects.filter(pk=announcement_id, status=Announcement.Status.SENDING).exists()


def _email(announcement: Announcement, member_id: int, address: str, language: str) -> OutboundEmail:
    """The staff's words as they wrote them; the footer in the member's language."""
    link = announcement_unsubscribe_url(member_id=member_id)
    with translation.override(language):
        footer = gettext(
            "You receive this as a member of %(site)s.\nStop receiving announcements: %(link)s\n"
        ) % {"site": settings.SITE_URL, "link": link}
    body = f"{announcement.body.rstrip()}\n\n-- \n{footer}"
    return OutboundEmail(
        to=address, subject=announcement.subject, body=body, kind=EMAIL_KIND,
        # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs to the link.
        headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def _tell_changed_after_commit(announcement_id: int) -> None:
    transaction.on_commit(
        lambda: announcement_changed.send_robust(sender=Announcement, announcement_id=announcement_id)
    )


# --- progress -----------------------------------------------------------------------------------


@dataclass
class AnnouncementProgress:
    total: int
    handed: int
    reached: int
    waiting: int
    failed: int

    @property
    def percent(self) -> int:
        if not self.total:
            return 100
        return min(100, self.reached * 100 // self.total)


def announcement_progress(*, announcement: Announcement) -> AnnouncementProgress:
    """Members reached (their email sent), waiting (queued or being sent) and failed, in one query."""
    by_status = {row["email__status"]: row["count"] for row in
                 announcement.deliveries.order_by().values("email__status").annotate(count=Count("pk"))}
    handed = sum(by_status.values())
    Status = OutboundEmail.Status
    return AnnouncementProgress(
        total=max(announcement.recipients_total, handed), handed=handed, reached=by_status.get(Status.SENT, 0),
        waiting=by_status.get(Status.QUEUED, 0) + by_status.get(Status.SENDING, 0),
        failed=by_status.get(Status.FAILED, 0),
    )


def announcements_of_emails(*, email_ids: list[int]) -> list[int]:
    """The announcements these outbox rows belong to."""
    return list(AnnouncementDelivery.objects.filter(email_id__in=email_ids)
                .values_list("announcement_id", flat=True).distinct())


# --- unsubscribing ------------------------------------------------------------------------------


def announcement_unsubscribe_token(*, member_id: int) -> str:
    """A signed token naming the member; it does not expire (an old email's link must still work)."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"m": member_id})


def announcement_unsubscribe_url(*, member_id: int) -> str:
    token = announcement_unsubscribe_token(member_id=member_id)
    return f"{settings.SITE_URL}{reverse('announcements_unsubscribe', kwargs={'token': token})}"


def announcement_unsubscribe_member(*, token: str):
    """The member a token names, or None when it is altered or the member is gone."""
    try:
        member_id = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)["m"]
    except (signing.BadSignature, ValueError, TypeError, KeyError):
        return None
    return User.objects.filter(pk=member_id).first()


def announcement_unsubscribe(*, member) -> None:
    """Opt the member out of announcements (idempotent)."""
    updated = Profile.objects.filter(user=member).update(announcements_opt_out=True)
    if not updated:
        Profile.objects.get_or_create(user=member, defaults={"announcements_opt_out": True})
    logger.info("member %s unsubscribed from announcements", member.pk)
