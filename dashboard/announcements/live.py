"""Keep every open announcement page in step: blog's announcement_changed and emails_sent ->
group "announcement.<pk>".

The blog sends the signals (in the worker after each batch, in the web process after a pause or
resume) and knows nothing of the dashboard. Each change is rendered once per variant and watched language (with the
pause/resume buttons for watchers who may use them, read-only for the others) from the page's own
partial, and handed to the non-blocking publisher, keyed by announcement so the newest wins.
"""

from __future__ import annotations

from django.dispatch import receiver
from django.template.loader import render_to_string

from blog.models import Announcement
from blog.services import announcements
from blog.signals import announcement_changed, emails_sent
from dashboard.live.contract import ANNOUNCEMENT_UPDATE, announcement_group
from dashboard.live.publish import publish_localized

TEMPLATE = "dashboard/announcements/detail.html"


def progress_context(announcement: Announcement, *, can_send: bool, progress=None) -> dict:
    return {"announcement": announcement, "can_send": can_send,
            "progress": progress or announcements.announcement_progress(announcement=announcement)}


def render_progress(announcement: Announcement, *, can_send: bool, progress=None) -> str:
    context = progress_context(announcement, can_send=can_send, progress=progress)
    return render_to_string(f"{TEMPLATE}#progress", context)


def publish_announcement(announcement_id: int) -> None:
    announcement = Announcement.objects.filter(pk=announcement_id).first()
    if announcement is None:
        return
    progress = announcements.announcement_progress(announcement=announcement)  # counted once, for both
    publish_localized(lambda: [(announcement_group(announcement_id), {
        "type": ANNOUNCEMENT_UPDATE,
        "html": render_progress(announcement, can_send=False, progress=progress),
        "html_act": render_progress(announcement, can_send=True, progress=progress),
    }, ("announcement", announcement_id))])


@receiver(announcement_changed, dispatch_uid="dashboard.announcements.live.changed")
def on_announcement_changed(sender, *, announcement_id, **kwargs):
    publish_announcement(announcement_id)


@receiver(emails_sent, dispatch_uid="dashboard.announcements.live.emails_sent")
def on_emails_sent(sender, *, email_ids, kinds, **kwargs):
    if announcements.EMAIL_KIND not in kinds:
        return  # one set lookup for every other email: no query
    for announcement_id in announcements.announcements_of_emails(email_ids=email_ids):
        publish_announcement(announcement_id)
