"""Dashboard URLs (under /dashboard/)."""

from django.urls import path, re_path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/demo/", views.demo_job_start, name="demo_job_start"),
    re_path(r"^tasks/(?P<task_id>[\w.-]{1,255})/$", views.task_detail, name="task_detail"),
]
