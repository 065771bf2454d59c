"""The Open-Meteo client: aiohttp, one pooled session per process, timeouts, retries, limits, cache.

`aiohttp` called from an async view, made fit for a public page:

- one shared `aiohttp.ClientSession` per process (per event loop) instead of one per call, so
  connections are pooled and reused; it is created lazily on first use;
- a connect timeout and a total timeout on every attempt;
- a semaphore caps the upstream requests in flight in this process, whoever asked for them, so a
  crowd of visitors queues here instead of hammering Open-Meteo (WEATHER_MAX_CONCURRENT_UPSTREAM);
- retries on timeouts, connection errors, 5xx and 429, with exponential back-off and full jitter,
  waiting what `Retry-After` asks (or giving up at once when it asks for more than
  WEATHER_RETRY_AFTER_MAX_SECONDS: a visitor is waiting);
- bodies are read up to WEATHER_MAX_RESPONSE_BYTES and refused beyond;
- answers are cached in Redis through `redis.asyncio` (never a thread), geocoding much longer than
  forecasts; an expired answer is kept a while longer and served, marked stale with its age, when
  the upstream fails.

Nothing here blocks the event loop: no `requests`, no `time.sleep`, no sync cache or ORM call.
Failures are `WeatherError`s with a `kind` the views turn into a message or a status code.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis
from django.conf import settings

from ops.metrics import WEATHER_UPSTREAM_ERRORS, WEATHER_UPSTREAM_REQUESTS

logger = logging.getLogger(__name__)

CURRENT_FIELDS = "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,wind_speed_10m"
CACHE_PREFIX = "weather:v1:"
#: Redis connections per process for the cache and the rate limit; more commands at once wait their turn.
REDIS_POOL_SIZE = 50


class WeatherError(Exception):
    """A city could not be looked up. `kind` is one of KINDS; the message is safe to show."""

    KINDS = ("not_found", "upstream", "rate_limited", "timeout", "malformed", "too_large")

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Retryable(Exception):
    def __init__(self, error: WeatherError, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after


@dataclass
class CityAnswer:
    """What the upstream (or the cache) said about one city."""

    place: dict
    forecast: dict
    stale_age_seconds: float | None = None  # set when served from an expired cache entry
    upstream_calls: int = 0
    sources: list[str] = field(default_factory=list)


# --- per-process shared state: one session, one semaphore, one Redis pool per event loop ---

@dataclass
class _LoopState:
    session: aiohttp.ClientSession
    semaphore: asyncio.Semaphore
    redis: aioredis.Redis
    reads: dict = field(default_factory=dict)  # cache key -> the read in flight (asyncio.Task)


_states: dict[int, tuple[asyncio.AbstractEventLoop, _LoopState]] = {}


def _state() -> _LoopState:
    """The shared session etc. for the running loop (daphne has one loop; tests may create several)."""
    loop = asyncio.get_running_loop()
    entry = _states.get(id(loop))
    if entry is not None and entry[0] is loop and not entry[1].session.closed:
        return entry[1]
    cap = settings.WEATHER_MAX_CONCURRENT_UPSTREAM
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=cap, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=settings.WEATHER_TIMEOUT_SECONDS,
                                      connect=settings.WEATHER_CONNECT_TIMEOUT_SECONDS),
        headers={"User-Agent": "live-django-weather/1.0", "Accept": "application/json"},
        raise_for_status=False,
    )
    # A pool that waits for a free connection: redis-py's default pool refuses a command beyond 100
    # connections ("Too many connections"), so a burst of visitors missed the cache, went upstream and,
    # the rate limit failing closed, got 429. Redis answers in well under a millisecond, so a few
    # dozen connections carry thousands of commands a second.
    pool = aioredis.BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=REDIS_POOL_SIZE, timeout=2,
                                                    socket_timeout=2, socket_connect_timeout=2)
    state = _LoopState(session, asyncio.Semaphore(cap), aioredis.Redis.from_pool(pool))
    _states[id(loop)] = (loop, state)
    return state


async def client_close() -> None:
    """Close this loop's session and Redis pool (tests and scripts call it before their loop ends)."""
    entry = _states.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].session.close()
        await entry[1].redis.aclose()


# --- one upstream GET with limits and retries ---

def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    limit = settings.WEATHER_MAX_RESPONSE_BYTES
    if response.content_length is not None and response.content_length > limit:
        raise WeatherError("too_large", "The weather service sent an answer too large to accept.")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise WeatherError("too_large", "The weather service sent an answer too large to accept.")
    return bytes(body)


async def _attempt(url: str, params: dict) -> dict:
    state = _state()
    timeout = aiohttp.ClientTimeout(total=settings.WEATHER_TIMEOUT_SECONDS,
                                    connect=settings.WEATHER_CONNECT_TIMEOUT_SECONDS)
    async with state.semaphore:
        try:
            async with state.session.get(url, params=params, timeout=timeout, allow_redirects=False) as response:
                if response.status == 429:
                    raise _Retryable(WeatherError("rate_limited", "The weather service is rate-limiting us; try again shortly."),
                                     _retry_after_seconds(response.headers.get("Retry-After")))
                if response.status >= 500:
                    raise _Retryable(WeatherError("upstream", f"The weather service failed (HTTP {response.status})."),
                                     _retry_after_seconds(response.headers.get("Retry-After")))
                body = await _read_limited(response)
                status = response.status
        except TimeoutError:
            raise _Retryable(WeatherError("timeout", "The weather service did not answer in time.")) from None
        except aiohttp.ClientError as error:
            raise _Retryable(WeatherError("upstream", f"Could not reach the weather service ({type(error).__name__}).")) from None
    try:
        data = json.loads(body)
    except ValueError:
        raise WeatherError("malformed", "The weather service sent an answer we could not read.") from None
    if not isinstance(data, dict):
        raise WeatherError("malformed", "The weather service sent an answer we could not read.")
    if status != 200:
        reason = data.get("reason") if data.get("error") else None
        raise WeatherError("upstream", f"The weather service refused the request: {reason or f'HTTP {status}'}.")
    return data


async def upstream_get(*, url: str, params: dict) -> dict:
    """GET a JSON object from Open-Meteo, retrying transient failures with back-off and jitter."""
    attempts = settings.WEATHER_RETRIES + 1
    base = settings.WEATHER_RETRY_BACKOFF_MS / 1000
    endpoint = "geocoding" if url == settings.WEATHER_GEOCODING_URL else "forecast"
    for attempt in range(attempts):
        WEATHER_UPSTREAM_REQUESTS.inc(endpoint)
        try:
            return await _attempt(url, params)
        except WeatherError as error:
            WEATHER_UPSTREAM_ERRORS.inc(endpoint, error.kind)
            raise
        except _Retryable as retryable:
            WEATHER_UPSTREAM_ERRORS.inc(endpoint, retryable.error.kind)
            if attempt + 1 >= attempts:
                raise retryable.error from None
            if retryable.retry_after is not None:
                if retryable.retry_after > settings.WEATHER_RETRY_AFTER_MAX_SECONDS:
                    raise retryable.error from None
                # Honour Retry-After; a little jitter so clients told the same time don't return together.
                delay = retryable.retry_after + random.uniform(0, base)
            else:
                delay = random.uniform(0, base * 2**attempt)  # full jitter
            logger.info("weather upstream %s (%s); retry %d in %.2fs", url, retryable.error.kind, attempt + 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# --- parsing (pure functions, shared with bench/'s baselines) ---

def place_from_geocoding(data: dict, *, name: str) -> dict:
    results = data.get("results")
    if not results:
        raise WeatherError("not_found", f"No place called “{name}” was found.")
    try:
        first = results[0]
        return {
            "name": str(first["name"]), "latitude": float(first["latitude"]), "longitude": float(first["longitude"]),
            "country": str(first.get("country") or ""), "country_code": str(first.get("country_code") or ""),
            "admin1": str(first.get("admin1") or ""), "timezone": str(first.get("timezone") or "GMT"),
        }
    except (KeyError, TypeError, ValueError, IndexError):
        raise WeatherError("malformed", "The weather service sent a place we could not read.") from None


def forecast_checked(data: dict) -> dict:
    """The forecast with the fields the card needs, or WeatherError("malformed")."""
    try:
        current = data["current"]
        checked = {
            "utc_offset_seconds": int(data.get("utc_offset_seconds") or 0),
            "timezone": str(data.get("timezone") or ""),
            "units": dict(data.get("current_units") or {}),
            "current": {
                "time": str(current["time"]),
                "temperature_2m": float(current["temperature_2m"]),
                "apparent_temperature": float(current["apparent_temperature"]),
                "relative_humidity_2m": float(current["relative_humidity_2m"]),
                "wind_speed_10m": float(current["wind_speed_10m"]),
                "weather_code": int(current["weather_code"]),
            },
            "hourly": {
                "time": [str(t) for t in data["hourly"]["time"]][:24],
                "temperature_2m": [None if t is None else float(t) for t in data["hourly"]["temperature_2m"]][:24],
            },
        }
    except (KeyError, TypeError, ValueError):
        raise WeatherError("malformed", "The weather service sent a forecast we could not read.") from None
    return checked


def geocoding_params(name: str) -> dict:
    return {"name": name, "count": "1", "language": "en", "format": "json"}


def forecast_params(latitude: float, longitude: float) -> dict:
    return {"latitude": f"{latitude:.4f}", "longitude": f"{longitude:.4f}", "current": CURRENT_FIELDS,
            "hourly": "temperature_2m", "forecast_days": "1", "timezone": "auto"}


# --- the cache: fresh for a while, then kept longer as a stale fallback ---

def _cache_key(kind: str, text: str) -> str:
    return CACHE_PREFIX + kind + ":" + hashlib.sha256(text.encode()).hexdigest()[:32]


async def _cache_read(key: str) -> dict | None:
    """The cache entry for `key`. Visitors asking for the same key at the same moment (a popular
    city) share one Redis read instead of queueing one each for the pool's connections; the entry is
    only read, never changed, by its users."""
    reads = _state().reads
    read = reads.get(key)
    if read is None:
        read = reads[key] = asyncio.ensure_future(_cache_read_now(key))
        read.add_done_callback(lambda _done: reads.pop(key, None))
    # Shielded: a visitor who leaves must not cancel the read for the others.
    return await asyncio.shield(read)


async def _cache_read_now(key: str) -> dict | None:
    try:
        raw = await _state().redis.get(key)
        return json.loads(raw) if raw else None
    except (aioredis.RedisError, OSError, ValueError) as error:
        logger.warning("weather cache read failed (%s); going upstream", error)
        return None


async def _cache_write(key: str, value: dict, *, fresh_seconds: int) -> None:
    try:
        await _state().redis.set(key, json.dumps({"stored_at": time.time(), "value": value}),
                                 ex=max(1, fresh_seconds + settings.WEATHER_STALE_KEEP_SECONDS))
    except (aioredis.RedisError, OSError) as error:
        logger.warning("weather cache write failed (%s)", error)


async def _cached(key: str, fresh_seconds: int, fetch, answer: CityAnswer, label: str):
    """Cached value when fresh; else fetch (and store); on failure, an expired value marked stale."""
    if not settings.WEATHER_CACHE_ENABLED:
        answer.upstream_calls += 1
        answer.sources.append(f"{label}:upstream")
        return await fetch()
    entry = await _cache_read(key)
    age = time.time() - entry["stored_at"] if entry else None
    if entry and age < fresh_seconds:
        answer.sources.append(f"{label}:cache")
        return entry["value"]
    try:
        answer.upstream_calls += 1
        value = await fetch()
    except WeatherError as error:
        if entry is None or error.kind == "not_found":
            raise
        logger.info("weather %s failed (%s); serving a stale answer %.0fs old", label, error.kind, age)
        answer.stale_age_seconds = max(answer.stale_age_seconds or 0, age)
        answer.sources.append(f"{label}:stale")
        return entry["value"]
    await _cache_write(key, value, fresh_seconds=fresh_seconds)
    answer.sources.append(f"{label}:upstream")
    return value


async def city_answer_fetch(*, name: str) -> CityAnswer:
    """Geocode `name`, then fetch its forecast; each step cached. Raises WeatherError."""
    answer = CityAnswer(place={}, forecast={})

    async def geocode() -> dict:
        data = await upstream_get(url=settings.WEATHER_GEOCODING_URL, params=geocoding_params(name))
        return place_from_geocoding(data, name=name)

    normalized = " ".join(name.split()).casefold()
    answer.place = await _cached(_cache_key("geo", normalized), settings.WEATHER_GEOCODING_CACHE_SECONDS,
                                 geocode, answer, "geocoding")
    latitude, longitude = answer.place["latitude"], answer.place["longitude"]

    async def forecast() -> dict:
        data = await upstream_get(url=settings.WEATHER_FORECAST_URL, params=forecast_params(latitude, longitude))
        return forecast_checked(data)

    answer.forecast = await _cached(_cache_key("forecast", f"{latitude:.2f},{longitude:.2f}"),
                                    settings.WEATHER_FORECAST_CACHE_SECONDS, forecast, answer, "forecast")
    return answer


# --- per-client rate limit (a fixed window in Redis, shared by every web process) ---

async def rate_limit_take(*, client: str, cost: int) -> float | None:
    """Count `cost` lookups for `client`; None when allowed, else seconds until the window resets."""
    limit = settings.WEATHER_RATE_LIMIT
    if not limit:
        return None
    window = settings.WEATHER_RATE_WINDOW_SECONDS
    slot = int(time.time() // window)
    key = f"{CACHE_PREFIX}rate:{client}:{slot}"
    try:
        async with _state().redis.pipeline(transaction=True) as pipe:
            used, _ = await pipe.incrby(key, cost).expire(key, window + 1).execute()
    except (aioredis.RedisError, OSError) as error:
        # Fail closed: without Redis we cannot tell a visitor from a flood.
        logger.warning("weather rate limit unavailable (%s); refusing", error)
        return float(window)
    if used > limit:
        return (slot + 1) * window - time.time()
    return None
