"""Task monitor: the list, one task, actions on one or many."""

from django.urls import path, re_path

from dashboard.monitor import views

TASK_ID = r"(?P<task_id>[\w.-]{1,255})"

urlpatterns = [
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/bulk/", views.tasks_bulk, name="tasks_bulk"),
    path("tasks/counts/", views.task_counts, name="task_counts"),
    re_path(rf"^tasks/{TASK_ID}/$", views.task_detail, name="task_detail"),
    re_path(rf"^tasks/{TASK_ID}/retry/$", views.task_retry_view, name="task_retry"),
    re_path(rf"^tasks/{TASK_ID}/revoke/$", views.task_revoke_view, name="task_revoke"),
    re_path(rf"^tasks/{TASK_ID}/terminate/$", views.task_revoke_view, {"terminate": True}, name="task_terminate"),
]
