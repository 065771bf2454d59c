"""Which Open-Meteo `make run` talks to: the real one when it answers at start-up, else the local fake.

`weather_upstream_choose(env)` decides: WEATHER_GEOCODING_URL / WEATHER_FORECAST_URL when set (asked
once, with a warning if they do not answer); else the real Open-Meteo when its geocoding API answers
a probe within PROBE_SECONDS; else the local stand-in (weather/fake_open_meteo.py), with
WEATHER_USING_FAKE=1 so the weather page says that it is showing made-up weather.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

# The same defaults as settings.WEATHER_GEOCODING_URL / WEATHER_FORECAST_URL (this module runs
# before Django is set up, so it cannot read them).
OPEN_METEO_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
OPEN_METEO_FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
#: The probe gives up after this long in total (name lookup, connect, TLS and answer together).
PROBE_SECONDS = 2.0


def upstream_answers(geocoding_url: str, *, timeout: float = PROBE_SECONDS) -> bool:
    """True when `geocoding_url` answers a one-city search with a JSON object within `timeout` seconds.

    urllib's own timeout bounds each socket operation, not the whole request, and not the name
    lookup at all (getaddrinfo cannot be interrupted): the request runs in a daemon thread and the
    caller waits for it at most `timeout`, so a black-holed network costs no more than that."""
    query = urlencode({"name": "Berlin", "count": 1, "language": "en", "format": "json"})
    outcome: dict[str, bool] = {}

    def ask() -> None:
        try:
            with urllib.request.urlopen(f"{geocoding_url}?{query}", timeout=timeout) as response:
                outcome["ok"] = response.status == 200 and isinstance(json.loads(response.read(256 * 1024)), dict)
        except (OSError, ValueError):  # refused, unreachable, timed out, HTTP error, not JSON
            outcome["ok"] = False

    thread = threading.Thread(target=ask, name="weather-upstream-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome.get("ok", False)


@dataclass
class WeatherUpstream:
    """What was chosen: `fake` is the started stand-in's process (None: a real upstream)."""

    message: str
    fake: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.fake is not None:
            self.fake.terminate()
            self.fake.wait(timeout=10)


def weather_upstream_choose(env: MutableMapping[str, str], *, cwd: Path,
                            probe_url: str = OPEN_METEO_GEOCODING_URL) -> WeatherUpstream:
    """Decide where the weather comes from and write the choice into `env` (the processes' environment)."""
    geocoding, forecast = env.get("WEATHER_GEOCODING_URL"), env.get("WEATHER_FORECAST_URL")
    if geocoding or forecast:
        message = f"Weather: from WEATHER_GEOCODING_URL={geocoding or '(default)'}, WEATHER_FORECAST_URL={forecast or '(default)'}."
        if not upstream_answers(geocoding or probe_url):
            message += f" Warning: {geocoding or probe_url} did not answer within {PROBE_SECONDS:g} s."
        return WeatherUpstream(message)
    if upstream_answers(probe_url):
        return WeatherUpstream(f"Weather: the real Open-Meteo ({probe_url} answered).")
    from site_config.devtools.local_redis import free_port  # noqa: PLC0415

    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "weather.fake_open_meteo", "--port", str(port), "--latency-ms", "400"], cwd=cwd,
    )
    env["WEATHER_GEOCODING_URL"] = f"http://127.0.0.1:{port}/v1/search"
    env["WEATHER_FORECAST_URL"] = f"http://127.0.0.1:{port}/v1/forecast"
    env["WEATHER_USING_FAKE"] = "1"
    return WeatherUpstream(
        f"Weather: Open-Meteo did not answer within {PROBE_SECONDS:g} s ({probe_url}), so the weather page "
        f"shows made-up weather from a local stand-in on port {port} and says so. Set WEATHER_GEOCODING_URL "
        "and WEATHER_FORECAST_URL to choose an upstream yourself.",
        fake=fake,
    )
