"""Websocket routes of the dashboard (all under /ws/): each feature's."""

from dashboard.announcements.routing import websocket_urlpatterns as announcements
from dashboard.home.routing import websocket_urlpatterns as home
from dashboard.jobs.routing import websocket_urlpatterns as jobs
from dashboard.moderation.routing import websocket_urlpatterns as moderation
from dashboard.monitor.routing import websocket_urlpatterns as monitor
from dashboard.schedules.routing import websocket_urlpatterns as schedules
from dashboard.workers.routing import websocket_urlpatterns as workers

websocket_urlpatterns = [*monitor, *moderation, *workers, *home, *schedules, *jobs, *announcements]
