"""Websocket route of the schedules page."""

from django.urls import path

from dashboard.schedules.consumers import SchedulesConsumer

websocket_urlpatterns = [
    path("ws/schedules/", SchedulesConsumer.as_asgi()),
]
