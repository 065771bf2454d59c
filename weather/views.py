"""Weather views: the streaming page (`/weather/`) and the one-city JSON endpoint (`/weather/api/`).

Both are `async def` views: while a city waits on Open-Meteo no
thread is held, only a coroutine. Under daphne they run on its event loop.

Why a chunked HTML response rather than Server-Sent Events: the page *is* the stream. The browser
receives the top of the page (form, one placeholder per city) at once, then each city's card as a
chunk the moment that city's answer arrives, in arrival order, then the end of the page. It needs no
JavaScript at all (the plain GET form is the whole UI, and the URL `?cities=...` is linkable), takes
one request instead of a page plus an EventSource, and ends cleanly when the last card is sent,
where an EventSource would reconnect and fetch every city again unless told to stop. Placeholders
disappear without script: each card carries a one-line `<style>` that hides its placeholder (with the
response's Content-Security-Policy nonce: inline styles without it are refused).

Validation and the rate limit run before the response starts, so they get real status codes (400,
429) and never cause an upstream call. The user and CSRF token are resolved before streaming too
(`await request.auser()`): nothing touches the database synchronously on the async path.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from site_config.machinery.client_address import request_client_bucket
from weather.client import rate_limit_take
from weather.forms import CitiesForm, CityForm
from weather.services import city_report_get, city_reports_stream

CARDS_SLOT = "<!--weather:cards-->"

ERROR_STATUS = {"not_found": 404, "rate_limited": 503, "timeout": 504}  # the rest: 502 Bad Gateway


async def _page_context(request, **extra) -> dict:
    return {"user": await request.auser(), "using_fake": settings.WEATHER_USING_FAKE, **extra}


@require_GET
async def weather_page(request):
    """The form; with `?cities=`, the same page streaming one card per city as each arrives."""
    if "cities" not in request.GET:
        return render(request, "weather/page.html", await _page_context(request, form=CitiesForm()))
    form = CitiesForm(request.GET)
    if not form.is_valid():
        return render(request, "weather/page.html", await _page_context(request, form=form), status=400)
    names = form.cleaned_data["cities"]
    retry_after = await rate_limit_take(client=request_client_bucket(request), cost=len(names))
    if retry_after is not None:
        response = render(request, "weather/page.html",
                          await _page_context(request, form=form, rate_limited=True, retry_after=round(retry_after + 0.5)),
                          status=429)
        response["Retry-After"] = str(round(retry_after + 0.5))
        return response

    page = render_to_string("weather/page.html", await _page_context(
        request, form=form, names=names, streaming=True, cards_slot=mark_safe(CARDS_SLOT)), request=request)
    head, tail = page.split(CARDS_SLOT, 1)
    # Read now: the policy header (with this nonce) is written when the response starts, before the cards.
    nonce = str(getattr(request, "csp_nonce", ""))

    async def chunks():
        yield head
        answered = 0
        async for report in city_reports_stream(names=names):
            answered += 1
            yield render_to_string("weather/page.html#card", {"report": report, "streamed": True, "csp_nonce": nonce})
        yield render_to_string("weather/page.html#done", {"count": answered})
        yield tail

    response = StreamingHttpResponse(chunks(), content_type="text/html; charset=utf-8")
    # Ask proxies (nginx) not to buffer, so each card leaves as soon as it is written.
    response["X-Accel-Buffering"] = "no"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
async def weather_api(request):
    """JSON for one city: 200 with the weather (maybe `"stale": true`), 400, 404, 429, 502, 503, 504."""
    form = CityForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"error": "invalid", "message": form.errors.get_json_data()}, status=400)
    retry_after = await rate_limit_take(client=request_client_bucket(request), cost=1)
    if retry_after is not None:
        response = JsonResponse({"error": "rate_limited", "message": gettext("Too many lookups; slow down.")}, status=429)
        response["Retry-After"] = str(round(retry_after + 0.5))
        return response
    report = await city_report_get(name=form.cleaned_data["city"])
    status = 200 if report.ok else ERROR_STATUS.get(report.error_kind, 502)
    return JsonResponse(report.as_json(), status=status, json_dumps_params={"ensure_ascii": False})
