"""Websocket route of an announcement's page."""

from django.urls import path

from dashboard.announcements.consumers import AnnouncementConsumer

websocket_urlpatterns = [
    path("ws/announcements/<int:pk>/", AnnouncementConsumer.as_asgi()),
]
