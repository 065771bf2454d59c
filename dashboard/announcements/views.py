"""Announcement pages: the list with the form to write one, one announcement's live page, pause and
resume.

Reading is for staff (members get a 404: they cannot even learn an announcement exists); sending,
pausing and resuming need dashboard.send_announcement, checked on every POST; staff without it see
the pages read-only. The work is blog.services.announcements'.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from blog.models import Announcement
from blog.services import announcements
from dashboard.announcements.forms import AnnouncementForm
from dashboard.announcements.live import TEMPLATE, progress_context
from dashboard.permissions import SEND_ANNOUNCEMENT, may, needs, require
from dashboard.rendering import render_page
from site_config.machinery.staff import is_active_staff

LIST_TEMPLATE = "dashboard/announcements/list.html"


def _get_announcement_for_user(request, pk: int) -> Announcement:
    """The announcement, for staff; a 404 for anyone else."""
    _require_staff(request)
    return get_object_or_404(Announcement, pk=pk)


def _require_staff(request) -> None:
    if not is_active_staff(request.user):
        raise Http404("No such page.")


@login_required
def announcement_list(request):
    _require_staff(request)
    can_send = may(request.user, SEND_ANNOUNCEMENT)
    form = AnnouncementForm(request.POST or None)
    if request.method == "POST":
        require(request.user, SEND_ANNOUNCEMENT)
        if form.is_valid():
            announcement = announcements.announcement_create(
                subject=form.cleaned_data["subject"], body=form.cleaned_data["body"], author=request.user
            )
            total = announcement.recipients_total
            messages.success(request, ngettext("Announcement “%(subject)s” is on its way to %(count)d member.",
                                               "Announcement “%(subject)s” is on its way to %(count)d members.", total)
                             % {"subject": announcement.subject, "count": total})
            return redirect("dashboard:announcement_detail", pk=announcement.pk)
    return render(request, LIST_TEMPLATE, {
        "form": form, "can_send": can_send, "send_needs": needs(SEND_ANNOUNCEMENT),
        "recipients": announcements.announcement_recipients().count(),
        "announcements": Announcement.objects.select_related("created_by")[:50],
    }, status=400 if form.errors else 200)


@login_required
def announcement_detail(request, pk: int):
    announcement = _get_announcement_for_user(request, pk)
    can_send = may(request.user, SEND_ANNOUNCEMENT)
    context = {**progress_context(announcement, can_send=can_send), "send_needs": needs(SEND_ANNOUNCEMENT)}
    return render_page(request, TEMPLATE, context, partial="progress")


def _after_change(request, announcement: Announcement, changed: bool, done: str, refused: str):
    if request.htmx:
        announcement.refresh_from_db()
        return render(request, f"{TEMPLATE}#progress", progress_context(announcement, can_send=True))
    if changed:
        messages.success(request, done)
    else:
        messages.warning(request, refused)
    return redirect("dashboard:announcement_detail", pk=announcement.pk)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def announcement_pause(request, pk: int):
    announcement = _get_announcement_for_user(request, pk)
    require(request.user, SEND_ANNOUNCEMENT)
    changed = announcements.announcement_pause(announcement_id=pk)
    return _after_change(request, announcement, changed, gettext("Paused: the batch being sent finishes, then sending stops."),
                         gettext("Only an announcement being sent can be paused."))


@login_required
@require_POST
@vary_on_headers("HX-Request")
def announcement_resume(request, pk: int):
    announcement = _get_announcement_for_user(request, pk)
    require(request.user, SEND_ANNOUNCEMENT)
    changed = announcements.announcement_resume(announcement_id=pk, user=request.user)
    return _after_change(request, announcement, changed, gettext("Resumed: sending continues where it stopped."),
                         gettext("Only a paused announcement can be resumed."))
