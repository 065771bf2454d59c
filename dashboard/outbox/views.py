"""Outbox (/dashboard/outbox/): every email the site sent or tried to send, for staff.

With the embedded default (no SMTP server) this is where the local mail is read (a verification or
password-reset body only by superusers, and only until it is sent: then it is blanked and the link is
in the file under var/mail/); in production it is where staff see failures and their reasons, and
send a failed email again
(which needs the permission dashboard.resend_email; staff without it see the page read-only).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from blog.models import OutboundEmail
from blog.services import outbox as outbox_service
from dashboard.permissions import RESEND_EMAIL, may, needs, require
from site_config.machinery.staff import staff_required

EMAILS_PER_PAGE = 25


@staff_required
def outbox(request):
    status = request.GET.get("status") or ""
    emails = OutboundEmail.objects.order_by("-created_at", "-id")
    if status in OutboundEmail.Status.values:
        emails = emails.filter(status=status)
    else:
        status = ""
    page = Paginator(emails, EMAILS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "dashboard/outbox/outbox.html", {
        "page": page, "status": status, "statuses": OutboundEmail.Status.choices,
        # Bodies of OutboundEmail.SECRET_KINDS are keys to accounts: superusers only.
        "can_read_secrets": request.user.is_superuser,
        "can_resend": may(request.user, RESEND_EMAIL),
        "resend_needs": needs(RESEND_EMAIL),
    })


@staff_required
@require_POST
def outbox_retry(request, pk: int):
    require(request.user, RESEND_EMAIL)
    if outbox_service.email_requeue_failed(email_id=pk):
        messages.success(request, gettext("Email %(number)s queued again.") % {"number": pk})
    else:
        email = OutboundEmail.objects.filter(pk=pk).first()
        if email is not None and email.status == OutboundEmail.Status.FAILED and email.is_blanked:
            messages.warning(request, gettext("Email %(number)s held a one-time account link, blanked once it failed "
                                              "for good; its owner asks for a new link.") % {"number": pk})
        else:
            messages.warning(request, gettext("Email %(number)s is not failed; nothing to retry.") % {"number": pk})
    return redirect("dashboard:outbox")
