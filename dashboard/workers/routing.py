"""Websocket route of the workers page: one poller per process asks the workers."""

from django.conf import settings
from django.urls import path

from dashboard.live.consumers import PolledConsumer
from dashboard.workers.services import render_workers_fragment

websocket_urlpatterns = [
    path("ws/workers/", PolledConsumer.as_asgi(
        poller_name="workers", produce=render_workers_fragment, interval=lambda: settings.WORKERS_POLL_INTERVAL)),
]
