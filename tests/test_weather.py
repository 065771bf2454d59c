"""Weather: streaming city cards, per-city errors, cache and stale fallback, validation, rate limit.

Every test talks to a real fake Open-Meteo process (weather/fake_open_meteo.py) over HTTP, with
latency and faults configured per test; nothing of the project is patched. Streaming tests run
under a real daphne; the others call the async views in-process through Django's AsyncClient.
"""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.test import AsyncClient

from tests.conftest import start_daphne
from tests.weather_upstream import FakeOpenMeteo, stream_cards, weather_redis_flush
from weather.client import client_close


@pytest.fixture(scope="session")
def fake_open_meteo():
    fake = FakeOpenMeteo()
    yield fake
    fake.stop()


@pytest.fixture
def upstream(fake_open_meteo, settings):
    """The fake, reset, with empty weather cache; in-process settings point at it with quick retries."""
    fake_open_meteo.reset()
    weather_redis_flush()
    settings.WEATHER_GEOCODING_URL = fake_open_meteo.env["WEATHER_GEOCODING_URL"]
    settings.WEATHER_FORECAST_URL = fake_open_meteo.env["WEATHER_FORECAST_URL"]
    settings.WEATHER_RETRY_BACKOFF_MS = 20
    settings.WEATHER_TIMEOUT_SECONDS = 1
    settings.WEATHER_RETRIES = 1
    settings.WEATHER_RATE_LIMIT = 1000
    yield fake_open_meteo
    weather_redis_flush()


@pytest.fixture(scope="module")
def weather_daphne(fake_open_meteo, django_db_setup):
    """daphne with the weather client pointed at the fake, quick retries, and asyncio debug mode on."""
    server = start_daphne("daphne-weather", env={
        **fake_open_meteo.env, "WEATHER_RETRY_BACKOFF_MS": "20", "WEATHER_TIMEOUT_SECONDS": "2",
        "WEATHER_RETRIES": "1", "WEATHER_RATE_LIMIT": "1000", "PYTHONASYNCIODEBUG": "1",
        # Its upstream counts would land in the shared metrics while a test here measures its own.
        "METRICS_FLUSH_SECONDS": "3600",
    })
    yield server
    server.stop()


def run(coroutine_function):
    """Run an async test body in a fresh loop, closing the weather client's session at the end.

    The loop runs in its own thread: once a browser test has run, Playwright's sync API keeps an
    event loop running in the test thread, where asyncio.run() refuses to start.
    """
    async def main():
        try:
            return await coroutine_function()
        finally:
            await client_close()
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, main()).result()


def get(path: str, data: dict | None = None):
    async def body():
        response = await AsyncClient().get(path, data or {})
        if response.streaming:
            response.html = b"".join([chunk async for chunk in response.streaming_content]).decode()
        else:
            response.html = response.content.decode()
        return response
    return run(body)


def cards_in(html: str) -> list[tuple[str, str | None]]:
    return [(city, error or None) for city, error in
            re.findall(r'<li class="city-card[^"]*" data-city="([^"]*)" data-slot="\d+"(?: data-error="(\w+)")?', html)]


# --- streaming under daphne ---

def test_fast_city_card_arrives_before_slow_city_card(upstream, weather_daphne):
    upstream.configure(rules=[{"city": "slowville", "endpoint": "forecast", "delay_ms": 1500}])
    status, body, cards = stream_cards(weather_daphne.url, "/weather/?cities=Slowville,Fastville")
    assert status == 200
    assert [(city, error) for _, city, error in cards] == [("Fastville", None), ("Slowville", None)]
    # Fastville's card reached the client while Slowville's upstream answer was still on its way.
    fast_at, slow_at = cards[0][0], cards[1][0]
    assert slow_at - fast_at > 0.5
    assert body.index('id="weather-pending-0"') < body.index('data-city="Fastville" data-slot')
    assert "Done: 2 cities answered." in body and body.rstrip().endswith("</html>")


def test_each_city_fails_alone_with_its_own_message(upstream, weather_daphne):
    upstream.configure(rules=[
        {"city": "broken", "fault": "500"},
        {"city": "busy", "fault": "429", "retry_after": 120},
        {"city": "garbled", "endpoint": "forecast", "fault": "malformed"},
        {"city": "silent", "endpoint": "forecast", "fault": "hang"},
        {"city": "huge", "fault": "oversized"},
        {"city": "refused", "endpoint": "forecast", "fault": "error400"},
    ])
    status, body, cards = stream_cards(
        weather_daphne.url, "/weather/?cities=Atlantis,Broken,Busy,Garbled,Silent,Huge,Refused,Taipei")
    assert status == 200
    assert dict((city, error) for _, city, error in cards) == {
        "Atlantis": "not_found", "Broken": "upstream", "Busy": "rate_limited", "Garbled": "malformed",
        "Silent": "timeout", "Huge": "too_large", "Refused": "upstream", "Taipei": None,
    }
    assert "No place called “Atlantis” was found." in body
    assert "The weather service failed (HTTP 500)." in body
    assert "Parameter &#x27;latitude&#x27; is out of range" in body
    assert "Done: 8 cities answered." in body and body.rstrip().endswith("</html>")
    assert "Traceback" not in weather_daphne.log()


@pytest.mark.quiet  # 100 ms is asyncio's limit on an unloaded machine; beside other tests any callback can pass it
def test_stream_makes_no_blocking_calls_in_asyncio_debug_mode(upstream, weather_daphne):
    stream_cards(weather_daphne.url, "/weather/?cities=Warmup")  # first request imports views, compiles templates
    log_before = len(weather_daphne.log())
    upstream.configure(latency_ms=300)
    status, body, cards = stream_cards(weather_daphne.url, "/weather/?cities=Oslo,Lima,Cairo,Berlin,Sydney")
    assert status == 200 and len(cards) == 5 and all(error is None for _, _, error in cards)
    new_log = weather_daphne.log()[log_before:]
    # asyncio debug mode (PYTHONASYNCIODEBUG=1) logs any callback holding the loop over 100 ms; a sync
    # ORM call would raise SynchronousOnlyOperation here (daphne does not allow async-unsafe calls).
    assert "Executing" not in new_log and "took" not in new_log, new_log
    assert "SynchronousOnlyOperation" not in new_log and "Traceback" not in new_log


def test_invalid_cities_get_400_from_the_stream_under_daphne(upstream, weather_daphne):
    status, body, cards = stream_cards(weather_daphne.url, "/weather/?cities=" + ",".join(f"C{i}" for i in range(11)))
    assert status == 400
    assert "At most 10 cities at once (you entered 11)." in body and cards == []
    assert upstream.calls() == 0


# --- validation and the plain form ---

def test_weather_page_without_cities_shows_the_form(upstream):
    response = get("/weather/")
    assert response.status_code == 200
    assert '<form method="get" action="/weather/"' in response.html and 'name="cities"' in response.html
    assert upstream.calls() == 0


def test_weather_page_credits_open_meteo(upstream):
    html = get("/weather/").html
    assert '<a href="https://open-meteo.com/">Weather data by Open-Meteo.com</a>' in html
    assert '<a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>' in html
    assert "local stand-in" not in html


def test_weather_page_says_when_it_shows_the_local_stand_in(upstream, settings):
    settings.WEATHER_USING_FAKE = True  # what `make run` sets when Open-Meteo did not answer at start-up
    for path in ("/weather/", "/weather/?cities=Oslo"):
        html = get(path).html
        assert "Offline: showing a local stand-in for Open-Meteo." in html
        assert "Weather data by Open-Meteo.com" in html


@pytest.mark.parametrize(("cities", "message"), [
    ("", "This field is required."),
    (" , ,, ", "Enter at least one city."),
    (",".join(f"City{i}" for i in range(11)), "At most 10 cities at once (you entered 11)."),
    ("Taipei," + "x" * 81, "is too long: at most 80 characters per city."),
    ("Tai\x07pei", "City names cannot contain control characters."),
    ("Tai\u202epei", "City names cannot contain control characters."),
])
def test_invalid_cities_get_a_form_error_and_no_upstream_call(upstream, cities, message):
    response = get("/weather/", {"cities": cities})
    assert response.status_code == 400
    assert message in response.html
    assert 'data-city=' not in response.html
    assert upstream.calls() == 0


@pytest.mark.parametrize("city", ["", "   ", "x" * 81, "Tai\x00pei"])
def test_json_endpoint_rejects_invalid_city_with_400(upstream, city):
    response = get("/weather/api/", {"city": city})
    assert response.status_code == 400
    assert json.loads(response.html)["error"] == "invalid"
    assert upstream.calls() == 0


def test_duplicate_cities_are_looked_up_once(upstream):
    response = get("/weather/", {"cities": "Tokyo, tokyo ,TOKYO,Paris"})
    assert response.status_code == 200
    assert [city for city, _ in cards_in(response.html)] in (["Tokyo", "Paris"], ["Paris", "Tokyo"])
    assert upstream.stats()["geocoding"] == {"tokyo": 1, "paris": 1}


# --- the JSON endpoint ---

def test_json_endpoint_returns_the_weather_of_one_city(upstream):
    response = get("/weather/api/", {"city": "Taipei"})
    assert response.status_code == 200
    data = json.loads(response.html)
    assert (data["name"], data["country"], data["timezone"], data["stale"]) == ("Taipei", "Taiwan", "Asia/Taipei", False)
    assert len(data["hourly"]) == 24 and data["condition"] and data["icon"]
    assert {"temperature", "feels_like", "humidity", "wind_speed", "local_time", "weather_code"} <= data.keys()


@pytest.mark.parametrize(("rule", "status", "error"), [
    ({"city": "atlantis"}, 404, "not_found"),
    ({"city": "xanadu", "fault": "500"}, 502, "upstream"),
    ({"city": "xanadu", "endpoint": "forecast", "fault": "malformed"}, 502, "malformed"),
    ({"city": "xanadu", "fault": "429", "retry_after": 60}, 503, "rate_limited"),
    ({"city": "xanadu", "endpoint": "forecast", "fault": "hang"}, 504, "timeout"),
    ({"city": "xanadu", "endpoint": "geocoding", "fault": "oversized"}, 502, "too_large"),
])
def test_json_endpoint_maps_upstream_failures_to_status_codes(upstream, rule, status, error):
    upstream.configure(rules=[rule])
    response = get("/weather/api/", {"city": rule["city"]})
    assert response.status_code == status
    assert json.loads(response.html)["error"] == error


# --- retries ---

def test_429_is_retried_after_the_delay_retry_after_asks_for(upstream):
    upstream.configure(rules=[{"city": "tokyo", "endpoint": "geocoding", "fault": "429", "retry_after": 1, "times": 1}])
    response = get("/weather/api/", {"city": "Tokyo"})
    assert response.status_code == 200
    geocoding_times = [t for t, endpoint, city in upstream.stats()["log"] if endpoint == "geocoding"]
    assert len(geocoding_times) == 2
    assert geocoding_times[1] - geocoding_times[0] >= 1.0


def test_transient_500_is_retried_and_the_city_succeeds(upstream):
    upstream.configure(rules=[{"city": "paris", "endpoint": "forecast", "fault": "500", "times": 1}])
    response = get("/weather/api/", {"city": "Paris"})
    assert response.status_code == 200
    assert upstream.stats()["forecast"] == {"paris": 2}


def test_retries_stop_after_the_configured_attempts(upstream, settings):
    settings.WEATHER_RETRIES = 2
    upstream.configure(rules=[{"city": "paris", "endpoint": "forecast", "fault": "500"}])
    assert get("/weather/api/", {"city": "Paris"}).status_code == 502
    assert upstream.stats()["forecast"] == {"paris": 3}


def test_upstream_attempts_and_failures_are_counted_for_the_metrics(upstream, settings):
    from site_config.ops.metrics import recorder
    from tests.metrics_helpers import scrape, value

    settings.WEATHER_RETRIES = 2
    recorder.flush()  # what earlier tests in this process recorded
    before = scrape()
    upstream.configure(rules=[{"city": "paris", "endpoint": "forecast", "fault": "500"}])
    assert get("/weather/api/", {"city": "Paris"}).status_code == 502
    recorder.flush()
    after = scrape()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("site_weather_upstream_requests_total", endpoint="geocoding") == 1
    assert delta("site_weather_upstream_requests_total", endpoint="forecast") == 3
    assert delta("site_weather_upstream_errors_total", endpoint="forecast", kind="upstream") == 3
    assert delta("site_weather_upstream_errors_total", endpoint="geocoding", kind="upstream") == 0


# --- cache and stale fallback ---

def test_cache_hit_avoids_upstream_calls(upstream):
    first = json.loads(get("/weather/api/", {"city": "London"}).html)
    second = json.loads(get("/weather/api/", {"city": "london"}).html)
    assert second["temperature"] == first["temperature"] and second["stale"] is False
    assert upstream.stats()["geocoding"] == {"london": 1}
    assert upstream.stats()["forecast"] == {"london": 1}


def test_a_burst_of_visitors_is_served_from_the_cache_and_the_rate_limit_holds(upstream, settings):
    # More lookups at once than a Redis connection pool of redis-py's default size (100) would take.
    import redis

    from tests.plugin import REDIS
    from weather.client import city_answer_fetch, rate_limit_take

    get("/weather/api/", {"city": "Oslo"})
    commands = redis.Redis.from_url(REDIS.url)
    gets_before = commands.info("commandstats").get("cmdstat_get", {}).get("calls", 0)

    async def burst():
        answers = await asyncio.gather(*(city_answer_fetch(name="Oslo") for _ in range(300)))
        limits = await asyncio.gather(*(rate_limit_take(client=f"burst-{i}", cost=1) for i in range(300)))
        return answers, limits

    answers, limits = run(burst)
    assert all(answer.upstream_calls == 0 for answer in answers)
    assert upstream.stats()["geocoding"] == {"oslo": 1} and upstream.stats()["forecast"] == {"oslo": 1}
    assert limits == [None] * 300, "no visitor refused because the pool ran out of connections"
    gets = commands.info("commandstats")["cmdstat_get"]["calls"] - gets_before
    assert gets < 60, f"{gets} Redis reads for 300 lookups of one city: concurrent reads are shared"


def test_geocoding_stays_cached_after_the_forecast_expires(upstream, settings):
    settings.WEATHER_FORECAST_CACHE_SECONDS = 0
    get("/weather/api/", {"city": "Berlin"})
    get("/weather/api/", {"city": "Berlin"})
    assert upstream.stats()["geocoding"] == {"berlin": 1}
    assert upstream.stats()["forecast"] == {"berlin": 2}


def test_cache_can_be_turned_off(upstream, settings):
    settings.WEATHER_CACHE_ENABLED = False
    get("/weather/api/", {"city": "Lima"})
    get("/weather/api/", {"city": "Lima"})
    assert upstream.stats()["geocoding"] == {"lima": 2}


def test_expired_answer_is_served_marked_stale_when_upstream_fails(upstream, settings):
    settings.WEATHER_FORECAST_CACHE_SECONDS = 0
    fresh = json.loads(get("/weather/api/", {"city": "Cairo"}).html)
    upstream.configure(rules=[{"city": "cairo", "endpoint": "forecast", "fault": "500"}])
    response = get("/weather/api/", {"city": "Cairo"})
    assert response.status_code == 200
    stale = json.loads(response.html)
    assert stale["stale"] is True and stale["stale_age_seconds"] >= 0
    assert stale["temperature"] == fresh["temperature"]
    page = get("/weather/", {"cities": "Cairo"})
    assert 'class="city-card stale"' in page.html and "Stale: from" in page.html


def test_failure_without_a_cached_answer_is_an_error_not_stale(upstream):
    upstream.configure(rules=[{"city": "cairo", "endpoint": "forecast", "fault": "500"}])
    assert get("/weather/api/", {"city": "Cairo"}).status_code == 502


# --- protection: rate limit and the upstream concurrency cap ---

def test_rate_limit_answers_429_before_any_upstream_call(upstream, settings):
    settings.WEATHER_RATE_LIMIT = 3
    assert get("/weather/", {"cities": "Taipei,Tokyo,Paris"}).status_code == 200
    calls = upstream.calls()
    limited = get("/weather/", {"cities": "London"})
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert "Too many lookups from your address." in limited.html
    api = get("/weather/api/", {"city": "Lima"})
    assert api.status_code == 429 and json.loads(api.html)["error"] == "rate_limited"
    assert upstream.calls() == calls


def test_concurrency_cap_holds_across_visitors(upstream, settings):
    settings.WEATHER_MAX_CONCURRENT_UPSTREAM = 2
    upstream.configure(latency_ms=100)

    async def three_visitors():
        async def visitor(cities):
            response = await AsyncClient().get("/weather/", {"cities": cities})
            return b"".join([chunk async for chunk in response.streaming_content]).decode()
        return await asyncio.gather(visitor("A1,A2"), visitor("B1,B2"), visitor("C1,C2"))

    pages = run(three_visitors)
    assert all(len(cards_in(page)) == 2 and "data-error" not in page for page in pages)
    assert upstream.stats()["max_in_flight"] == 2


# --- a real browser ---

@pytest.mark.browser
def test_browser_sees_cards_appear_one_by_one(upstream, weather_daphne, page):
    upstream.configure(rules=[
        {"city": "second", "endpoint": "forecast", "delay_ms": 700},
        {"city": "third", "endpoint": "forecast", "delay_ms": 1500},
    ])
    # What the page shows after each change to it, recorded in the page as the stream arrives:
    # read from the test instead, a busy machine could see two cards land between two looks.
    page.add_init_script("""
        window.shown = [];
        new MutationObserver(() => {
            const cards = [...document.querySelectorAll('.city-card')].map((card) => card.dataset.city);
            const waiting = [...document.querySelectorAll('.weather-pending')]
                .filter((item) => item.getClientRects().length).map((item) => item.textContent.trim());
            const now = JSON.stringify([cards, waiting]);
            if (window.shown.at(-1) !== now) window.shown.push(now);
        }).observe(document, {childList: true, subtree: true});
    """)
    page.goto(f"{weather_daphne.url}/weather/?cities=Third,Second,First", wait_until="commit")
    cards, pending = page.locator(".city-card"), page.locator(".weather-pending:visible")
    page.locator('.city-card[data-city="Third"]').wait_for()
    shown = [json.loads(state) for state in page.evaluate("window.shown")]
    one_by_one = [[["First"], ["Waiting for Third…", "Waiting for Second…"]],
                  [["First", "Second"], ["Waiting for Third…"]],
                  [["First", "Second", "Third"], []]]
    assert [state for state in shown if state in one_by_one] == one_by_one, shown
    assert [cards.nth(i).get_attribute("data-city") for i in range(3)] == ["First", "Second", "Third"]
    assert page.locator(".city-card.failed").count() == 0
    assert pending.count() == 0
    assert page.get_by_role("status").filter(has_text="Done: 3 cities answered.").is_visible()


# --- a bounded upstream: not-found cached, one deadline per city, keys naming the upstream, a budget ---

def test_a_place_that_does_not_exist_is_asked_for_once_per_period(upstream, settings):
    settings.WEATHER_NOT_FOUND_CACHE_SECONDS = 3600
    assert get("/weather/api/", {"city": "Atlantis"}).status_code == 404
    again = get("/weather/api/", {"city": "atlantis"})
    assert again.status_code == 404 and json.loads(again.html)["message"] == "No place called “Atlantis” was found."
    assert upstream.stats()["geocoding"] == {"atlantis": 1}


def test_the_wait_for_an_upstream_slot_counts_against_the_city_deadline(upstream, settings):
    settings.WEATHER_MAX_CONCURRENT_UPSTREAM = 1
    settings.WEATHER_CITY_DEADLINE_SECONDS = 1.0
    upstream.configure(latency_ms=400)  # six calls through one slot: 2.4 s for the last without a deadline

    async def page():
        loop = asyncio.get_running_loop()
        began = loop.time()
        response = await AsyncClient().get("/weather/", {"cities": "Oslo,Lima,Rome"})
        html = b"".join([chunk async for chunk in response.streaming_content]).decode()
        return html, loop.time() - began

    html, seconds = run(page)
    cards = dict(cards_in(html))
    assert len(cards) == 3 and "timeout" in cards.values()
    assert seconds < 1.6  # every card came by its deadline: nobody queued for a slot past it
    assert "did not answer in time" in html


def test_cached_answers_are_kept_per_upstream(upstream, settings):
    assert get("/weather/api/", {"city": "London"}).status_code == 200
    # The same service under another name (as when switching from the fake to Open-Meteo): asked again.
    settings.WEATHER_GEOCODING_URL = settings.WEATHER_GEOCODING_URL.replace("127.0.0.1", "localhost")
    settings.WEATHER_FORECAST_URL = settings.WEATHER_FORECAST_URL.replace("127.0.0.1", "localhost")
    assert get("/weather/api/", {"city": "London"}).status_code == 200
    assert upstream.stats()["geocoding"] == {"london": 2} and upstream.stats()["forecast"] == {"london": 2}


def test_the_upstream_budget_is_shared_by_all_visitors_and_costs_one_round_trip_per_page(upstream, settings):
    settings.WEATHER_UPSTREAM_PER_MINUTE = 6
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.config_resetstat()
    page = get("/weather/", {"cities": "Oslo,Lima,Rome"})  # reserves 6 calls: the whole minute
    assert [error for _, error in cards_in(page.html)] == [None, None, None]
    assert int(client.info("commandstats")["cmdstat_eval"]["calls"]) == 1
    refused = get("/weather/api/", {"city": "Paris"})
    assert refused.status_code == 503
    assert "share of the weather service is used up for this minute" in json.loads(refused.html)["message"]
    assert "paris" not in upstream.stats()["geocoding"]
    # Cached cities need no budget.
    assert get("/weather/api/", {"city": "Oslo"}).status_code == 200
    assert int(client.info("commandstats")["cmdstat_eval"]["calls"]) == 2
    client.close()


def test_a_process_reserves_upstream_calls_in_blocks_so_most_pages_need_no_redis_call(upstream, settings):
    settings.WEATHER_UPSTREAM_PER_MINUTE = 600  # blocks of 20 calls
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.config_resetstat()

    async def five_cities_one_by_one():
        for city in ("Oslo", "Lima", "Rome", "Kyiv", "Doha"):
            response = await AsyncClient().get("/weather/api/", {"city": city})
            assert response.status_code == 200
    run(five_cities_one_by_one)  # one event loop: one process's reserve
    assert int(client.info("commandstats")["cmdstat_eval"]["calls"]) == 1
    used = sum(int(client.get(key)) for key in client.scan_iter("weather:v1:budget:minute:*"))
    assert used == 20  # charged in the shared counter when reserved
    client.close()
