"""Every websocket path of the site, gathered from each app's routing module (all under /ws/)."""

from dashboard.routing import websocket_urlpatterns as dashboard_ws

websocket_urlpatterns = [*dashboard_ws]
