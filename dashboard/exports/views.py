"""Export pages: a member's "Your data", the staff CSV exports (confirm, then start), the download,
and the download panel a task's page fetches when an export job ends.

Download rule: only the export's owner, staff and superusers included (an export is a copy made for
one person); anyone else gets a 404, so an export's existence is not revealed. A staff export is
downloaded only while its maker is still active staff with the export permission (else 403). Expired: 410.
The file itself comes from the storage (site_config.machinery.storage): a short-lived pre-signed URL
with object storage, a stream of chunks from the file system.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext

from blog.models import Comment
from dashboard.exports.models import Export
from dashboard.exports.services import (
    ExportRefused,
    comments_queryset,
    export_for_download,
    export_is_expired,
    export_may_download,
    export_start,
    export_tasks_queryset,
)
from dashboard.permissions import EXPORT_DATA, require
from site_config.machinery.staff import staff_required
from site_config.machinery.storage import stored_file_response

# The confirmation page counts matching rows up to this many (a bounded COUNT over a LIMIT subquery).
CONFIRM_COUNT_LIMIT = 10_000

STAFF_KINDS = {
    Export.Kind.TASKS: "dashboard:task_list",
    Export.Kind.MODERATION: "dashboard:moderation_queue",
    Export.Kind.COMMENTS: "dashboard:moderation_queue",
}
#: The filters each staff export takes from its page's URL.
PARAMS = {
    Export.Kind.TASKS: ("state", "name", "worker", "queue", "launched_by", "periodic", "date_from", "date_to", "q",
                        "sort", "order"),
    Export.Kind.MODERATION: ("status", "post"),
    Export.Kind.COMMENTS: ("status", "post"),
}


@login_required
def my_data(request):
    """GET: the member's exports. POST: ask for an export of their profile and comments."""
    if request.method == "POST":
        try:
            export = export_start(owner=request.user, kind=Export.Kind.MEMBER_DATA)
        except ExportRefused as refusal:
            messages.error(request, str(refusal))
            return redirect("dashboard:my_data")
        return redirect("dashboard:task_detail", task_id=export.task_id)
    return render(request, "dashboard/exports/my_data.html", {
        "exports": Export.objects.filter(owner=request.user)[:50], "expiry_hours": settings.EXPORT_EXPIRY_HOURS,
    })


def _params(request, kind: str) -> dict:
    source = request.POST if request.method == "POST" else request.GET
    params = {key: source[key] for key in PARAMS[kind] if source.get(key)}
    if kind != Export.Kind.TASKS:
        if params.get("status") not in Comment.Status.values:
            params.pop("status", None)
        if not params.get("post", "").isdigit() or len(params.get("post", "")) > 18:
            params.pop("post", None)
    if kind == Export.Kind.MODERATION:
        params.setdefault("status", Comment.Status.HELD)
    return params


@staff_required
def export_new(request):
    """A staff CSV export of the page it was asked from (its filters in the query): GET shows what
    will be exported and how many rows, POST starts it and lands on the job's live page."""
    require(request.user, EXPORT_DATA)
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind", "")
    if kind not in STAFF_KINDS:  # no kind (or a wrong one): say what can be exported, from where
        kinds = [(value, Export.Kind(value).label, reverse(page)) for value, page in STAFF_KINDS.items()]
        return render(request, "dashboard/exports/choose.html", {"kinds": kinds, "asked": kind},
                      status=400 if kind else 200)
    params = _params(request, kind)
    try:
        qs = export_tasks_queryset(params) if kind == Export.Kind.TASKS else comments_queryset(params)
    except ExportRefused as refusal:
        messages.error(request, str(refusal))
        return redirect(STAFF_KINDS[kind])
    if request.method != "POST":
        return render(request, "dashboard/exports/confirm.html", {
            "kind": kind, "label": Export.Kind(kind).label, "params": params,
            # Counted up to a bound, so the page costs the same at ten million rows as at ten.
            "count": qs[:CONFIRM_COUNT_LIMIT + 1].count(), "count_limit": CONFIRM_COUNT_LIMIT,
            "expiry_hours": settings.EXPORT_EXPIRY_HOURS,
        })
    export = export_start(owner=request.user, kind=kind, params=params)
    return redirect("dashboard:task_detail", task_id=export.task_id)


@login_required
def export_download(request, pk: int):
    export = export_for_download(user=request.user, export_id=pk)
    if export is None or export.status != Export.Status.READY or not export.file:
        raise Http404("No such export.")
    if not export_may_download(user=request.user, export=export):
        require(request.user, EXPORT_DATA)  # the 403 that says which permission it needs
    if export_is_expired(export):
        return HttpResponse(gettext("This export has expired; ask for a new one."), status=410,
                            content_type="text/plain; charset=utf-8")
    content_type = "text/csv; charset=utf-8" if export.filename.endswith(".csv") else "application/json"
    # Object storage: a redirect to a pre-signed URL; the file system: streamed in chunks.
    return stored_file_response(export.file.name, content_type=content_type, download_as=export.filename)


@login_required
def export_for_task(request, task_id: str):
    """The download panel of an export job's page, for the export's owner; nothing for anyone else."""
    export = Export.objects.filter(task_id=task_id, owner=request.user).first()
    if export is None or not export_may_download(user=request.user, export=export):
        return HttpResponse(status=204)
    return render(request, "dashboard/exports/_download.html", {"export": export, "task_id": task_id,
                                                               "expired": export_is_expired(export)})


