"""Staff moderation queue (/dashboard/moderation/): held comments, decisions one at a time or in bulk.

Reading the queue is for staff; deciding (one comment or in bulk) needs the permission
dashboard.decide_comments, checked here on every POST (dashboard.permissions); staff without it see
the queue read-only, live included (ModerationConsumer). Decisions go through blog.services.comments,
whose conditional updates decide which of two concurrent moderators wins; the loser's row shows who
decided instead.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from blog.models import Comment, Post
from blog.services import comments
from dashboard.moderation.queue import LIVE_STATUS, QUEUE_STATUSES, TEMPLATE, queue_queryset
from dashboard.permissions import DECIDE_COMMENTS, EXPORT_DATA, may, needs, require
from dashboard.rendering import render_page
from site_config.machinery.staff import staff_required

ACTIONS = {"approve": Comment.Status.APPROVED, "reject": Comment.Status.REJECTED, "spam": Comment.Status.SPAM}


MAX_ID = 2**63  # larger ids overflow the database's integer: treat them as bad input


def _filters(request) -> tuple[str, int | None]:
    data = request.POST if request.method == "POST" else request.GET
    status = data.get("status") or LIVE_STATUS
    if status not in dict(QUEUE_STATUSES):
        status = LIVE_STATUS
    try:
        post_id = int(data.get("post") or 0) or None
    except ValueError:
        post_id = None
    if post_id is not None and not 0 < post_id < MAX_ID:
        post_id = None
    return status, post_id


def _queue_context(request, *, status: str, post_id: int | None, page_number=None) -> dict:
    page = Paginator(queue_queryset(status=status, post_id=post_id), settings.MODERATION_QUEUE_PER_PAGE).get_page(
        page_number if page_number is not None else request.GET.get("page")
    )
    return {
        "page": page,
        "comments": page.object_list,
        "status": status,
        "status_label": str(dict(Comment.Status.choices).get(status, status)).lower(),
        "post_id": post_id,
        "statuses": QUEUE_STATUSES,
        "posts": Post.objects.order_by("-created_at").only("pk", "title")[:200],
        # Live updates add newly held comments and remove decided ones: meaningful on the held queue.
        "live": status == LIVE_STATUS and not post_id,
        "query": urlencode({k: v for k, v in {"status": status, "post": post_id or ""}.items() if v}),
        "can_decide": may(request.user, DECIDE_COMMENTS),
        "can_export": may(request.user, EXPORT_DATA),
        "decide_needs": needs(DECIDE_COMMENTS),
    }


@staff_required
def moderation_queue(request):
    status, post_id = _filters(request)
    return render_page(request, TEMPLATE, _queue_context(request, status=status, post_id=post_id), partial="queue")


def _back_to_queue(request) -> str:
    status, post_id = _filters(request)
    query = {"status": status}
    if post_id:
        query["post"] = post_id
    if request.POST.get("page"):
        query["page"] = request.POST["page"]
    return f"{reverse('dashboard:moderation_queue')}?{urlencode(query)}"


@staff_required
@require_POST
def moderation_decide(request, pk: int):
    """One comment. HTMX: the row disappears when this moderator won, or shows who decided."""
    require(request.user, DECIDE_COMMENTS)
    new_status = ACTIONS.get(request.POST.get("action", ""))
    expected = request.POST.get("expected") or request.POST.get("status") or LIVE_STATUS
    get_object_or_404(Comment.objects.only("pk"), pk=pk)
    if new_status is None or expected not in dict(QUEUE_STATUSES):
        return HttpResponse("Unknown action.", status=400)
    result = comments.comment_decide(
        comment_id=pk, moderator=request.user, new_status=new_status, expected_status=expected
    )
    if request.htmx:
        if result.won:
            return HttpResponse("")  # hx-swap="outerHTML" on the row: removed
        return render(request, f"{TEMPLATE}#row",
                      {"comment": result.comment, "status": expected, "conflict": True, "can_decide": True})
    if result.won:
        messages.success(request, gettext("Comment %(number)s %(status)s.")
                         % {"number": pk, "status": result.comment.get_status_display().lower()})
    else:
        messages.warning(request, _conflict_text(result.comment))
    return redirect(_back_to_queue(request))


def _conflict_text(comment: Comment) -> str:
    status = comment.get_status_display().lower()
    if comment.moderated_by:
        return gettext("Comment %(number)s was already %(status)s by %(moderator)s.") % {
            "number": comment.pk, "status": status, "moderator": comment.moderated_by.get_username()}
    return gettext("Comment %(number)s was already %(status)s by the automatic moderation.") % {
        "number": comment.pk, "status": status}


@staff_required
@require_POST
@vary_on_headers("HX-Request")
def moderation_bulk(request):
    require(request.user, DECIDE_COMMENTS)
    new_status = ACTIONS.get(request.POST.get("action", ""))
    status, post_id = _filters(request)
    try:
        ids = sorted({int(pk) for pk in request.POST.getlist("selected")})
    except ValueError:
        return HttpResponse("Bad selection.", status=400)
    if any(not 0 < pk < MAX_ID for pk in ids):
        return HttpResponse("Bad selection.", status=400)
    if new_status is None:
        return HttpResponse("Unknown action.", status=400)
    if not ids:
        messages.warning(request, gettext("Select at least one comment first."))
    else:
        won = comments.comments_decide(
            comment_ids=ids[:500], moderator=request.user, new_status=new_status, expected_status=status
        )
        label = dict(Comment.Status.choices)[new_status].lower()
        text = ngettext("%(count)d comment %(status)s.", "%(count)d comments %(status)s.", len(won)) % {
            "count": len(won), "status": label}
        if len(won) < len(ids):
            text += " " + ngettext("%(count)d had already been decided by someone else.",
                                   "%(count)d had already been decided by someone else.",
                                   len(ids) - len(won)) % {"count": len(ids) - len(won)}
        messages.success(request, text)
    if request.htmx:
        context = _queue_context(request, status=status, post_id=post_id, page_number=request.POST.get("page"))
        return render(request, f"{TEMPLATE}#queue", context)
    return redirect(_back_to_queue(request))
