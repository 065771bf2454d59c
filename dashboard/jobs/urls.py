"""Jobs: "My tasks" and cancel."""

from django.urls import path, re_path

from dashboard.jobs import views

urlpatterns = [
    path("my-tasks/", views.my_tasks, name="my_tasks"),
    re_path(r"^tasks/(?P<task_id>[\w.-]{1,255})/cancel/$", views.task_cancel_view, name="task_cancel"),
]
