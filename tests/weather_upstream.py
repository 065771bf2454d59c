"""Helpers for the weather tests: the fake Open-Meteo as a real process, and reading a live stream.

The fake (weather/fake_open_meteo.py) runs as its own process on a free port; tests configure its
latency and faults over HTTP (`/_control`) and read what it was asked (`/_stats`).
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import time
import urllib.request
from urllib.parse import urlparse

import redis

from site_config.devtools.local_redis import free_port
from tests.conftest import Process, child_env
from tests.plugin import REDIS

CARD = re.compile(r'<li class="city-card[^"]*" data-city="([^"]*)" data-slot="\d+"(?: data-error="(\w+)")?')


class FakeOpenMeteo:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process("fake-open-meteo", [sys.executable, "-m", "weather.fake_open_meteo", "--port",
                                                   str(self.port)], child_env(), live=False)
        self.process.wait_for_log("listening on")

    @property
    def env(self) -> dict[str, str]:
        return {"WEATHER_GEOCODING_URL": f"{self.url}/v1/search", "WEATHER_FORECAST_URL": f"{self.url}/v1/forecast"}

    def _post(self, path: str, payload: dict) -> None:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    def configure(self, *, latency_ms: int = 0, rules: list[dict] | None = None) -> None:
        self._post("/_control", {"latency_ms": latency_ms, "rules": rules or []})

    def reset(self) -> None:
        self._post("/_reset", {})

    def stats(self) -> dict:
        return json.loads(urllib.request.urlopen(f"{self.url}/_stats", timeout=10).read())

    def calls(self) -> int:
        stats = self.stats()
        return sum(stats["geocoding"].values()) + sum(stats["forecast"].values())

    def stop(self) -> None:
        self.process.stop()


def weather_redis_flush() -> None:
    """Forget cached answers and rate-limit counters (the weather client's keys only)."""
    client = redis.Redis.from_url(REDIS.url)
    keys = list(client.scan_iter("weather:*"))
    if keys:
        client.delete(*keys)
    client.close()


def stream_cards(base_url: str, path: str, timeout: float = 30.0) -> tuple[int, str, list[tuple[float, str, str | None]]]:
    """GET a streamed page chunk by chunk; returns status, the whole body and (seconds, city, error) per card
    in the order the cards arrived, timed from the request."""
    parsed = urlparse(base_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    started = time.monotonic()
    connection.request("GET", path)
    response = connection.getresponse()
    body, cards = "", []
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        body += chunk.decode()
        elapsed = time.monotonic() - started
        for city, error in CARD.findall(body)[len(cards):]:
            cards.append((elapsed, city, error or None))
    connection.close()
    return response.status, body, cards
