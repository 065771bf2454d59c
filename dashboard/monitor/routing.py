"""Websocket routes of the task monitor."""

from django.urls import path, re_path

from dashboard.monitor.consumers import TaskConsumer, TaskListConsumer

websocket_urlpatterns = [
    path("ws/tasks/", TaskListConsumer.as_asgi()),
    re_path(r"^ws/tasks/(?P<task_id>[\w.-]{1,255})/$", TaskConsumer.as_asgi()),
]
