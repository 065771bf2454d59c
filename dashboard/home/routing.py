"""Websocket route of the home page's task charts: one poller per process aggregates them."""

from django.conf import settings
from django.urls import path

from dashboard.home.charts import render_home_charts
from dashboard.live.consumers import PolledConsumer

websocket_urlpatterns = [
    path("ws/dashboard/charts/", PolledConsumer.as_asgi(
        poller_name="home-charts", produce=render_home_charts, interval=lambda: settings.HOME_CHARTS_INTERVAL)),
]
