"""A local stand-in for Open-Meteo's geocoding and forecast APIs, with latency and fault injection.

There is no internet where this project is developed and tested, so `make run` (when
WEATHER_GEOCODING_URL / WEATHER_FORECAST_URL are unset), the tests and bench/ talk to this server.
It speaks the same format as the real APIs:

- `GET /v1/search?name=Taipei&count=1&language=en&format=json` -> `{"results": [...], "generationtime_ms"}`
  (no `results` key when nothing matches);
- `GET /v1/forecast?latitude=..&longitude=..&current=..&hourly=temperature_2m&forecast_days=1&timezone=auto`
  -> `{"latitude", "longitude", "timezone", "utc_offset_seconds", "current_units", "current",
  "hourly_units", "hourly"}`; bad parameters -> HTTP 400 `{"error": true, "reason": "..."}`.

Every city name is found (deterministic made-up coordinates and weather derived from the name), except
the names in NOT_FOUND; a few real cities have their real coordinates.

Control endpoints (used by tests and the benchmark; never part of the real API):
- `POST /_control` JSON `{"latency_ms": 200, "rules": [{"city": "Tokyo", "endpoint": "forecast",
  "fault": "500", "delay_ms": 0, "times": null, "retry_after": 1}]}` replaces the configuration.
  Faults: `500`, `429` (with Retry-After), `malformed` (invalid JSON), `not_found` (no `results`),
  `hang` (never answers), `oversized` (a multi-megabyte body), `error400` (Open-Meteo's error JSON).
  `endpoint` is `geocoding`, `forecast` or `any`; `times` limits a fault to the first N matching requests.
- `GET /_stats` -> `{"geocoding": {"tokyo": 1}, "forecast": {"tokyo": 1}, "log": [[t, endpoint, city], ...],
  "max_in_flight": 3}` (the most requests it was answering at once).
- `POST /_reset` clears rules, latency and stats.

Run: `python -m weather.fake_open_meteo --port 8765 [--latency-ms 300]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import time
from datetime import UTC, datetime, timedelta

from aiohttp import web

NOT_FOUND = {"atlantis", "nowhere", "xyzzy"}

KNOWN = {
    "taipei": ("Taipei", 25.05306, 121.52639, "Taiwan", "TW", "Asia/Taipei", "Taipei", 7871900),
    "tokyo": ("Tokyo", 35.6895, 139.69171, "Japan", "JP", "Asia/Tokyo", "Tokyo", 9733276),
    "london": ("London", 51.50853, -0.12574, "United Kingdom", "GB", "Europe/London", "England", 8961989),
    "paris": ("Paris", 48.85341, 2.3488, "France", "FR", "Europe/Paris", "Île-de-France", 2138551),
    "new york": ("New York", 40.71427, -74.00597, "United States", "US", "America/New_York", "New York", 8804190),
    "sydney": ("Sydney", -33.86785, 151.20732, "Australia", "AU", "Australia/Sydney", "New South Wales", 4627345),
    "berlin": ("Berlin", 52.52437, 13.41053, "Germany", "DE", "Europe/Berlin", "Land Berlin", 3426354),
    "cairo": ("Cairo", 30.06263, 31.24967, "Egypt", "EG", "Africa/Cairo", "Cairo", 7734614),
    "reykjavik": ("Reykjavík", 64.13548, -21.89541, "Iceland", "IS", "Atlantic/Reykjavik", "Capital Region", 118918),
    "lima": ("Lima", -12.04318, -77.02824, "Peru", "PE", "America/Lima", "Lima", 7737002),
}
COUNTRIES = [("Fakeland", "FL"), ("Placeholdia", "PH"), ("Testonia", "TS"), ("Mockovia", "MK")]
UTC_OFFSETS = {"Asia/Taipei": 8, "Asia/Tokyo": 9, "Europe/London": 1, "Europe/Paris": 2, "America/New_York": -4,
               "Australia/Sydney": 10, "Europe/Berlin": 2, "Africa/Cairo": 3, "Atlantic/Reykjavik": 0,
               "America/Lima": -5}
WMO_CODES = [0, 1, 2, 3, 45, 51, 61, 63, 71, 80, 95]


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _place(name: str) -> dict | None:
    key = " ".join(name.split()).casefold()
    if key in NOT_FOUND:
        return None
    if key in KNOWN:
        display, lat, lon, country, code, tz, admin1, population = KNOWN[key]
    else:
        digest = _digest(key)
        lat = round(int.from_bytes(digest[0:4]) / 2**32 * 140 - 70, 5)
        lon = round(int.from_bytes(digest[4:8]) / 2**32 * 360 - 180, 5)
        country, code = COUNTRIES[digest[8] % len(COUNTRIES)]
        offset = round(lon / 15)
        # POSIX Etc zones have inverted signs: Etc/GMT-8 is UTC+8.
        tz = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
        display, admin1, population = " ".join(name.split()).title(), "Central", 10_000 + digest[9] * 1000
    return {
        "id": int.from_bytes(_digest(key)[:3]), "name": display, "latitude": lat, "longitude": lon,
        "elevation": 10.0, "feature_code": "PPLC", "country_code": code, "timezone": tz,
        "population": population, "country": country, "admin1": admin1,
    }


def _utc_offset_hours(timezone: str, longitude: float) -> int:
    if timezone in UTC_OFFSETS:
        return UTC_OFFSETS[timezone]
    return round(longitude / 15)


def _forecast(latitude: float, longitude: float, timezone: str) -> dict:
    seed = _digest(f"{latitude:.3f},{longitude:.3f}")
    offset = _utc_offset_hours(timezone, longitude)
    now = datetime.now(UTC) + timedelta(hours=offset)
    base = 28 - abs(latitude) * 0.45 + (seed[0] % 10) - 5
    # Coldest before dawn, warmest mid-afternoon, a little noise per hour.
    hourly = [round(base - 5 * math.cos((h - 3) / 24 * 2 * math.pi) + (seed[h % 32] % 10) / 10, 1) for h in range(24)]
    current_hour = now.hour
    temperature = hourly[current_hour]
    humidity = 35 + seed[1] % 60
    wind = round(2 + (seed[2] % 300) / 10, 1)
    day = now.strftime("%Y-%m-%d")
    return {
        "latitude": latitude, "longitude": longitude, "generationtime_ms": 0.05,
        "utc_offset_seconds": offset * 3600, "timezone": timezone,
        "timezone_abbreviation": f"GMT{offset:+d}" if offset else "GMT", "elevation": 10.0,
        "current_units": {"time": "iso8601", "interval": "seconds", "temperature_2m": "°C",
                          "relative_humidity_2m": "%", "apparent_temperature": "°C", "weather_code": "wmo code",
                          "wind_speed_10m": "km/h"},
        "current": {"time": now.strftime("%Y-%m-%dT%H:") + f"{now.minute // 15 * 15:02d}", "interval": 900,
                    "temperature_2m": temperature, "relative_humidity_2m": humidity,
                    "apparent_temperature": round(temperature - wind / 10 + (humidity - 50) / 25, 1),
                    "weather_code": WMO_CODES[seed[3] % len(WMO_CODES)], "wind_speed_10m": wind},
        "hourly_units": {"time": "iso8601", "temperature_2m": "°C"},
        "hourly": {"time": [f"{day}T{h:02d}:00" for h in range(24)], "temperature_2m": hourly},
    }


class FakeOpenMeteo:
    """The server's state: configuration (latency, fault rules), coordinates seen, request stats."""

    def __init__(self, latency_ms: int = 0) -> None:
        self.default_latency_ms = latency_ms
        self.reset()

    def reset(self) -> None:
        self.latency_ms = self.default_latency_ms
        self.rules: list[dict] = []
        self.city_at: dict[tuple[float, float], str] = {}
        self.counts: dict[str, dict[str, int]] = {"geocoding": {}, "forecast": {}}
        self.log: list[tuple[float, str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def _record(self, endpoint: str, city: str) -> None:
        self.counts[endpoint][city] = self.counts[endpoint].get(city, 0) + 1
        self.log.append((time.time(), endpoint, city))

    def _rule_for(self, endpoint: str, city: str) -> dict | None:
        for rule in self.rules:
            if rule.get("city", "*").casefold() not in ("*", city) or rule.get("endpoint", "any") not in ("any", endpoint):
                continue
            if rule.get("times") is not None:
                if rule.get("used", 0) >= rule["times"]:
                    continue
                rule["used"] = rule.get("used", 0) + 1
            return rule
        return None

    async def _answer(self, endpoint: str, city: str, build) -> web.StreamResponse:
        self._record(endpoint, city)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer_now(endpoint, city, build)
        finally:
            self.in_flight -= 1

    async def _answer_now(self, endpoint: str, city: str, build) -> web.StreamResponse:
        rule = self._rule_for(endpoint, city) or {}
        delay = rule.get("delay_ms", self.latency_ms) / 1000
        if delay:
            await asyncio.sleep(delay)
        fault = rule.get("fault")
        if fault == "hang":
            await asyncio.sleep(3600)
        if fault == "500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "429":
            return web.json_response({"error": True, "reason": "Too many requests"}, status=429,
                                     headers={"Retry-After": str(rule.get("retry_after", 1))})
        if fault == "error400":
            return web.json_response({"error": True, "reason": "Parameter 'latitude' is out of range"}, status=400)
        if fault == "malformed":
            return web.Response(text='{"results": [{"name": "trunc', content_type="application/json")
        if fault == "oversized":
            padding = "x" * (5 * 1024 * 1024)
            return web.Response(text=json.dumps({"padding": padding}), content_type="application/json")
        if fault == "not_found" and endpoint == "geocoding":
            return web.json_response({"generationtime_ms": 0.1})
        return web.json_response(build(), dumps=lambda data: json.dumps(data, ensure_ascii=False))

    async def search(self, request: web.Request) -> web.StreamResponse:
        name = request.query.get("name", "")
        city = " ".join(name.split()).casefold()

        def build() -> dict:
            place = _place(name)
            if place is None:
                return {"generationtime_ms": 0.1}
            self.city_at[(round(place["latitude"], 2), round(place["longitude"], 2))] = city
            return {"results": [place], "generationtime_ms": 0.3}

        if len(name) < 2:
            return web.json_response({"generationtime_ms": 0.1})
        return await self._answer("geocoding", city, build)

    async def forecast(self, request: web.Request) -> web.StreamResponse:
        try:
            latitude = float(request.query["latitude"])
            longitude = float(request.query["longitude"])
        except (KeyError, ValueError):
            return web.json_response({"error": True, "reason": "Parameter 'latitude' and 'longitude' required"},
                                     status=400)
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return web.json_response({"error": True, "reason": "Latitude must be in range of -90 to 90°."}, status=400)
        city = self.city_at.get((round(latitude, 2), round(longitude, 2)), f"{latitude:.2f},{longitude:.2f}")
        place = _place(city) if "," not in city else None
        timezone = place["timezone"] if place else "GMT"
        return await self._answer("forecast", city, lambda: _forecast(latitude, longitude, timezone))

    async def control(self, request: web.Request) -> web.Response:
        config = await request.json()
        self.latency_ms = int(config.get("latency_ms", self.default_latency_ms))
        self.rules = [dict(rule) for rule in config.get("rules", [])]
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({**self.counts, "log": self.log, "max_in_flight": self.max_in_flight})

    async def reset_view(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})


def fake_open_meteo_app(*, latency_ms: int = 0) -> web.Application:
    fake = FakeOpenMeteo(latency_ms)
    app = web.Application()
    app.router.add_get("/v1/search", fake.search)
    app.router.add_get("/v1/forecast", fake.forecast)
    app.router.add_post("/_control", fake.control)
    app.router.add_get("/_stats", fake.stats)
    app.router.add_post("/_reset", fake.reset_view)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency-ms", type=int, default=0, help="delay before every answer")
    args = parser.parse_args()
    print(f"Fake Open-Meteo listening on http://{args.host}:{args.port}/v1/search and /v1/forecast", flush=True)
    # shutdown_timeout: a "hang" fault keeps its handler open for ever, and a fake has nothing worth
    # waiting for at exit; aiohttp's default would hold every stop for 60 s.
    web.run_app(fake_open_meteo_app(latency_ms=args.latency_ms), host=args.host, port=args.port,
                print=None, access_log=None, backlog=2048, shutdown_timeout=1.0)


if __name__ == "__main__":
    main()
