"""Websocket routes of the dashboard (all under /ws/)."""

from django.urls import path, re_path

from . import consumers

websocket_urlpatterns = [
    path("ws/tasks/", consumers.TaskListConsumer.as_asgi()),
    path("ws/moderation/", consumers.ModerationConsumer.as_asgi()),
    path("ws/workers/", consumers.WorkersConsumer.as_asgi()),
    path("ws/dashboard/charts/", consumers.HomeChartsConsumer.as_asgi()),
    re_path(r"^ws/tasks/(?P<task_id>[\w.-]{1,255})/$", consumers.TaskConsumer.as_asgi()),
]
