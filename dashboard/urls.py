"""Dashboard URLs (under /dashboard/)."""

from django.urls import path, re_path

from . import report_views, schedule_views, task_views, views
from . import moderation_views, outbox_views
from . import workers_views

app_name = "dashboard"
TASK_ID = r"(?P<task_id>[\w.-]{1,255})"

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/", task_views.task_list, name="task_list"),
    path("tasks/demo/", views.demo_job_start, name="demo_job_start"),
    path("tasks/bulk/", task_views.tasks_bulk, name="tasks_bulk"),
    path("tasks/counts/", task_views.task_counts, name="task_counts"),
    re_path(rf"^tasks/{TASK_ID}/$", task_views.task_detail, name="task_detail"),
    re_path(rf"^tasks/{TASK_ID}/retry/$", task_views.task_retry_view, name="task_retry"),
    re_path(rf"^tasks/{TASK_ID}/revoke/$", task_views.task_revoke_view, name="task_revoke"),
    re_path(rf"^tasks/{TASK_ID}/terminate/$", task_views.task_revoke_view, {"terminate": True},
            name="task_terminate"),
    path("schedules/", schedule_views.schedule_list, name="schedule_list"),
    path("schedules/<int:pk>/", schedule_views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:pk>/enabled/", schedule_views.schedule_enable, name="schedule_enable"),
    path("schedules/<int:pk>/run/", schedule_views.schedule_run, name="schedule_run"),
    path("reports/", report_views.report_list, name="report_list"),
    path("reports/<str:day>/", report_views.report_detail, name="report_detail"),
    path("moderation/", moderation_views.moderation_queue, name="moderation_queue"),
    path("moderation/bulk/", moderation_views.moderation_bulk, name="moderation_bulk"),
    path("moderation/<int:pk>/decide/", moderation_views.moderation_decide, name="moderation_decide"),
    path("outbox/", outbox_views.outbox, name="outbox"),
    path("outbox/<int:pk>/retry/", outbox_views.outbox_retry, name="outbox_retry"),
    path("workers/", workers_views.workers_page, name="workers"),
]
