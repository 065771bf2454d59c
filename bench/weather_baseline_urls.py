"""The site's URLs plus two baselines the weather benchmark compares the streaming view with.

- `sync_weather_page`: a plain synchronous view fetching city by city with urllib (what a sync Django
  view usually does), streaming each card as it is ready; served by a threaded WSGI server.
- `gather_weather_page`: an async view that gathers every city concurrently, then renders the whole
  page at once (nothing reaches the visitor before the slowest city).
Both use the project's own parsing and card template, so only the fetching strategy differs.
"""

import asyncio
import json
import urllib.parse
import urllib.request

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import path
from django.utils.safestring import mark_safe

from site_config.urls import urlpatterns as site_urlpatterns
from weather.client import (
    CityAnswer,
    UpstreamBudget,
    WeatherError,
    forecast_checked,
    forecast_params,
    geocoding_params,
    place_from_geocoding,
)
from weather.services import CityReport, city_report_get, weather_from_answer
from weather.views import CARDS_SLOT


def _page_parts(request, names):
    from django.contrib.auth.models import AnonymousUser

    page = render_to_string("weather/page.html", {"user": AnonymousUser(), "names": names, "streaming": True,
                                                  "cards_slot": mark_safe(CARDS_SLOT)})
    return page.split(CARDS_SLOT, 1)


def _get_json(url, params):
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(params)}", timeout=settings.WEATHER_TIMEOUT_SECONDS) as r:
        return json.loads(r.read())


def _sync_report(name, slot):
    try:
        place = place_from_geocoding(_get_json(settings.WEATHER_GEOCODING_URL, geocoding_params(name)), name=name)
        forecast = forecast_checked(_get_json(settings.WEATHER_FORECAST_URL,
                                              forecast_params(place["latitude"], place["longitude"])))
    except WeatherError as error:
        return CityReport(query=name, slot=slot, error_kind=error.kind, error_message=error.message)
    except OSError as error:
        return CityReport(query=name, slot=slot, error_kind="upstream", error_message=str(error))
    return CityReport(query=name, slot=slot, weather=weather_from_answer(CityAnswer(place=place, forecast=forecast)))


def sync_weather_page(request):
    names = [n.strip() for n in request.GET["cities"].split(",")]
    head, tail = _page_parts(request, names)

    def chunks():
        yield head
        for slot, name in enumerate(names):
            yield render_to_string("weather/page.html#card", {"report": _sync_report(name, slot), "streamed": True})
        yield tail

    return StreamingHttpResponse(chunks(), content_type="text/html; charset=utf-8")


async def gather_weather_page(request):
    names = [n.strip() for n in request.GET["cities"].split(",")]
    head, tail = _page_parts(request, names)
    budget = UpstreamBudget(calls=2 * len(names))  # as the streaming view: one share of the budget per page
    reports = await asyncio.gather(*(city_report_get(name=name, slot=slot, budget=budget)
                                     for slot, name in enumerate(names)))
    budget.give_back()
    cards = "".join(render_to_string("weather/page.html#card", {"report": r, "streamed": True}) for r in reports)
    return HttpResponse(head + cards + tail, content_type="text/html; charset=utf-8")


urlpatterns = [
    path("bench/weather/sync/", sync_weather_page),
    path("bench/weather/gather/", gather_weather_page),
    *site_urlpatterns,
]
