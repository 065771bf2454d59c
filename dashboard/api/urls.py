"""/api/: the JSON API, its OpenAPI description (/api/schema/) and browsable docs (/api/docs/)."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dashboard.api import stream, views

app_name = "api"

TASK_ID = r"(?P<task_id>[\w.-]{1,255})"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI (from the drf-spectacular-sidecar package) adds a <style> element as it renders, so
    # this one page allows inline styles; its scripts are still our origin's only (the "split" view
    # serves its start-up script as a file, not inline), and it shows no user content.
    path("docs/", csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(
        SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
    path("me/", views.me, name="me"),
    path("tasks/", views.task_collection, name="task_list"),
    path("tasks/registered/", views.task_registered, name="task_registered"),
    re_path(rf"^tasks/{TASK_ID}/$", views.task_detail, name="task_detail"),
    re_path(rf"^tasks/{TASK_ID}/retry/$", views.task_retry_view, name="task_retry"),
    re_path(rf"^tasks/{TASK_ID}/revoke/$", views.task_revoke_view, name="task_revoke"),
    re_path(rf"^tasks/{TASK_ID}/cancel/$", views.task_cancel_view, name="task_cancel"),
    re_path(rf"^tasks/{TASK_ID}/events/$", stream.task_events, name="task_events"),
    re_path(rf"^tasks/{TASK_ID}/wait/$", stream.task_wait, name="task_wait"),
    path("demo-jobs/", views.demo_job_start, name="demo_job_start"),
    path("workers/", views.worker_list, name="worker_list"),
    path("queues/", views.queue_list, name="queue_list"),
    path("schedules/", views.schedule_list, name="schedule_list"),
    path("schedules/<int:periodic_task_id>/enable/", views.schedule_enable, name="schedule_enable"),
    path("schedules/<int:periodic_task_id>/disable/", views.schedule_disable, name="schedule_disable"),
    path("schedules/<int:periodic_task_id>/run/", views.schedule_run, name="schedule_run"),
    path("reports/", views.report_list, name="report_list"),
    re_path(r"^reports/(?P<day>[0-9-]{1,10})/$", views.report_detail, name="report_detail"),
]
