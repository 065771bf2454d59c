"""Websocket routes of jobs."""

from django.urls import path

from dashboard.jobs.consumers import MyTasksConsumer

websocket_urlpatterns = [
    path("ws/my-tasks/", MyTasksConsumer.as_asgi()),
]
