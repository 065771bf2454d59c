"""Exports: "Your data", staff CSV exports, downloads."""

from django.urls import path, re_path

from dashboard.exports import views

urlpatterns = [
    path("my-data/", views.my_data, name="my_data"),
    path("exports/new/", views.export_new, name="export_new"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
    re_path(r"^exports/task/(?P<task_id>[\w.-]{1,255})/$", views.export_for_task, name="export_for_task"),
]
