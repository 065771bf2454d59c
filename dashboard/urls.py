"""Dashboard URLs (under /dashboard/)."""

from django.urls import path, re_path

from . import report_views, schedule_views, views
from . import moderation_views, outbox_views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/demo/", views.demo_job_start, name="demo_job_start"),
    re_path(r"^tasks/(?P<task_id>[\w.-]{1,255})/$", views.task_detail, name="task_detail"),
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
]
