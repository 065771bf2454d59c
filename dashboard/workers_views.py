"""The workers page (/dashboard/workers/): staff only. Its live part is pushed by WorkersConsumer."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.vary import vary_on_headers

from dashboard.workers import POLL_INTERVAL, workers_snapshot


def workers_context(snapshot: dict) -> dict:
    consumers: dict[str, list[str]] = {}
    for worker in snapshot["workers"]:
        if worker["online"]:
            for queue in worker.get("queues", []):
                consumers.setdefault(queue["name"], []).append(worker["hostname"])
    queues = [{**queue, "consumers": consumers.get(queue["name"], [])} for queue in snapshot["queues"] or []]
    online = sum(1 for worker in snapshot["workers"] if worker["online"])
    return {
        "snapshot": snapshot,
        "queues": queues,
        "online_count": online,
        "offline_count": len(snapshot["workers"]) - online,
    }


def render_workers_fragment() -> str:
    """The live part of the page, rendered once per poll for every watcher (websocket message)."""
    snapshot = workers_snapshot(max_age=POLL_INTERVAL - 0.5)
    return render_to_string("dashboard/workers.html#workers-live", workers_context(snapshot))


@staff_member_required
@vary_on_headers("HX-Request")
def workers_page(request):
    context = workers_context(workers_snapshot(max_age=POLL_INTERVAL))
    template = "dashboard/workers.html#workers-live" if request.htmx else "dashboard/workers.html"
    return render(request, template, context)
