"""Weather services: turn Open-Meteo answers into city cards, and look cities up concurrently.

`city_report_get` looks one city up and never raises: the result is a `CityReport` carrying either
the weather or the error kind and message for that city alone. `city_reports_stream` starts every
city at once and yields each report the moment it is ready, in arrival order (asyncio.as_completed
over tasks), and cancels what is still running when its consumer goes away (the visitor left).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext_lazy as _

from weather.client import CityAnswer, UpstreamBudget, WeatherError, city_answer_fetch

# WMO weather interpretation codes, as Open-Meteo documents them: (text, icon name in _icon.html).
CONDITIONS = {
    0: (_("Clear sky"), "sun"), 1: (_("Mainly clear"), "sun"), 2: (_("Partly cloudy"), "partly"), 3: (_("Overcast"), "cloud"),
    45: (_("Fog"), "fog"), 48: (_("Depositing rime fog"), "fog"),
    51: (_("Light drizzle"), "rain"), 53: (_("Drizzle"), "rain"), 55: (_("Dense drizzle"), "rain"),
    56: (_("Freezing drizzle"), "rain"), 57: (_("Dense freezing drizzle"), "rain"),
    61: (_("Slight rain"), "rain"), 63: (_("Rain"), "rain"), 65: (_("Heavy rain"), "rain"),
    66: (_("Freezing rain"), "rain"), 67: (_("Heavy freezing rain"), "rain"),
    71: (_("Slight snow"), "snow"), 73: (_("Snow"), "snow"), 75: (_("Heavy snow"), "snow"), 77: (_("Snow grains"), "snow"),
    80: (_("Rain showers"), "rain"), 81: (_("Heavy rain showers"), "rain"), 82: (_("Violent rain showers"), "rain"),
    85: (_("Snow showers"), "snow"), 86: (_("Heavy snow showers"), "snow"),
    95: (_("Thunderstorm"), "thunder"), 96: (_("Thunderstorm with hail"), "thunder"), 99: (_("Thunderstorm with heavy hail"), "thunder"),
}

ERROR_TITLES = {
    "not_found": _("Not found"), "upstream": _("Weather service error"), "rate_limited": _("Weather service busy"),
    "timeout": _("Timed out"), "malformed": _("Unreadable answer"), "too_large": _("Answer too large"),
}

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 240, 60, 4


def condition_for(code: int) -> tuple[str, str]:
    if code in CONDITIONS:
        return CONDITIONS[code]
    return (_("Unknown conditions"), "cloud")


def chart_points(temperatures: list[float | None]) -> dict | None:
    """An SVG polyline (in a 240x60 box) of the day's hourly temperatures, with its min and max."""
    values = [t for t in temperatures if t is not None]
    if len(values) < 2:
        return None
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (CHART_WIDTH - 2 * CHART_PAD) / (len(temperatures) - 1)
    points = [
        f"{CHART_PAD + i * step:.1f},{CHART_PAD + (high - t) / span * (CHART_HEIGHT - 2 * CHART_PAD):.1f}"
        for i, t in enumerate(temperatures) if t is not None
    ]
    return {"points": " ".join(points), "low": low, "high": high, "width": CHART_WIDTH, "height": CHART_HEIGHT}


@dataclass
class CityReport:
    """One city's card: `weather` when it worked, else `error_kind` and `error_message`."""

    query: str
    slot: int  # position in the visitor's list, to match the card with its placeholder
    weather: dict | None = None
    error_kind: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.weather is not None

    @property
    def error_title(self) -> str:
        return ERROR_TITLES.get(self.error_kind or "", "Error")

    def as_json(self) -> dict:
        if self.ok:
            return {"query": self.query, **{k: v for k, v in self.weather.items() if k != "chart"}}
        return {"query": self.query, "error": self.error_kind, "message": self.error_message}


def weather_from_answer(answer: CityAnswer, *, now: datetime | None = None) -> dict:
    place, forecast = answer.place, answer.forecast
    current = forecast["current"]
    condition, icon = condition_for(current["weather_code"])
    local_now = (now or datetime.now(UTC)) + timedelta(seconds=forecast["utc_offset_seconds"])
    units = forecast.get("units") or {}
    return {
        "name": place["name"], "country": place["country"], "country_code": place["country_code"],
        "admin1": place["admin1"], "latitude": place["latitude"], "longitude": place["longitude"],
        "timezone": forecast.get("timezone") or place["timezone"],
        "local_time": local_now.strftime("%H:%M"), "observed_at": current["time"],
        "temperature": current["temperature_2m"], "feels_like": current["apparent_temperature"],
        "humidity": current["relative_humidity_2m"], "wind_speed": current["wind_speed_10m"],
        "temperature_unit": units.get("temperature_2m", "°C"), "wind_unit": units.get("wind_speed_10m", "km/h"),
        "weather_code": current["weather_code"], "condition": condition, "icon": icon,
        "hourly": forecast["hourly"]["temperature_2m"], "chart": chart_points(forecast["hourly"]["temperature_2m"]),
        "stale": answer.stale_age_seconds is not None,
        "stale_age_seconds": None if answer.stale_age_seconds is None else round(answer.stale_age_seconds),
    }


async def city_report_get(*, name: str, slot: int = 0, budget: UpstreamBudget | None = None) -> CityReport:
    """Look one city up; its failure is reported in the result, never raised. Without a `budget`
    (the one-city endpoint) the city has its own share of the upstream budget."""
    own_budget = budget is None
    budget = UpstreamBudget(calls=2) if own_budget else budget
    try:
        answer = await city_answer_fetch(name=name, budget=budget)
    except WeatherError as error:
        return CityReport(query=name, slot=slot, error_kind=error.kind, error_message=error.message)
    finally:
        if own_budget:
            budget.give_back()
    return CityReport(query=name, slot=slot, weather=weather_from_answer(answer))


async def city_reports_stream(*, names: list[str]):
    """Yield a CityReport per name as soon as each is ready (arrival order, not request order)."""
    # The page's share of the upstream budget, taken once for all its cities: a geocoding and a forecast each.
    budget = UpstreamBudget(calls=2 * len(names))
    tasks = [asyncio.ensure_future(city_report_get(name=name, slot=slot, budget=budget))
             for slot, name in enumerate(names)]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        # The visitor left mid-stream (Django cancels the response) or we finished: stop the rest.
        for task in tasks:
            task.cancel()
        budget.give_back()  # the calls cached cities did not need go back to the process's reserve
