"""Websocket route of the moderation queue."""

from django.urls import path

from dashboard.moderation.consumers import ModerationConsumer

websocket_urlpatterns = [
    path("ws/moderation/", ModerationConsumer.as_asgi()),
]
