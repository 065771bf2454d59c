"""Websocket routes of the dashboard (all under /ws/): each feature's."""

from dashboard.announcements.routing import websocket_urlpatterns as announcements
from dashboard.home.routing import websocket_urlpatterns as home
from dashboard.moderation.routing import websocket_urlpatterns as moderation
from dashboard.monitor.routing import websocket_urlpatterns as monitor
from dashboard.workers.routing import websocket_urlpatterns as workers

websocket_urlpatterns = [*monitor, *moderation, *workers, *home, *announcements]
