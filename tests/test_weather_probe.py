"""`make run`'s weather upstream: the real Open-Meteo when it answers a probe at start-up (which gives
up within 2 s), else the local stand-in, said in the output and on the page
(site_config/devtools/weather_upstream.py). Every probe here talks to a real local socket."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from site_config.devtools.local_redis import free_port
from site_config.devtools.weather_upstream import PROBE_SECONDS, upstream_answers, weather_upstream_choose
from tests.conftest import BASE_DIR
from tests.weather_upstream import FakeOpenMeteo


@pytest.fixture(scope="module")
def fake():
    server = FakeOpenMeteo()
    yield server
    server.stop()


def timed(url: str) -> tuple[bool, float]:
    started = time.monotonic()
    answered = upstream_answers(url)
    return answered, time.monotonic() - started


def test_probe_says_yes_to_a_server_answering_like_open_meteo(fake):
    fake.reset()
    assert timed(fake.env["WEATHER_GEOCODING_URL"])[0] is True


@pytest.mark.quiet  # a time limit: measured on a machine no other test loads
def test_probe_gives_up_within_two_seconds_on_a_server_that_accepts_and_never_answers():
    listener = socket.create_server(("127.0.0.1", 0))  # the kernel accepts connections; nobody reads
    try:
        answered, seconds = timed(f"http://127.0.0.1:{listener.getsockname()[1]}/v1/search")
    finally:
        listener.close()
    assert answered is False
    assert seconds < PROBE_SECONDS + 0.5


@pytest.mark.quiet  # a time limit: measured on a machine no other test loads
def test_probe_says_no_at_once_when_nothing_listens():
    answered, seconds = timed(f"http://127.0.0.1:{free_port()}/v1/search")
    assert answered is False
    assert seconds < 1.0


def test_probe_says_no_to_a_page_that_is_not_the_api():
    """A captive portal or a proxy's error page answers 200 with HTML: that is not Open-Meteo."""
    class Portal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>Please log in to the Wi-Fi</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert timed(f"http://127.0.0.1:{server.server_address[1]}/v1/search")[0] is False
    finally:
        server.shutdown()
        server.server_close()


def test_make_run_uses_the_upstream_when_it_answers(fake):
    env: dict[str, str] = {}
    choice = weather_upstream_choose(env, cwd=BASE_DIR, probe_url=fake.env["WEATHER_GEOCODING_URL"])
    assert choice.fake is None
    assert env == {}
    assert "the real Open-Meteo" in choice.message


def test_make_run_starts_the_stand_in_and_says_so_when_the_upstream_does_not_answer():
    env: dict[str, str] = {}
    choice = weather_upstream_choose(env, cwd=BASE_DIR, probe_url=f"http://127.0.0.1:{free_port()}/v1/search")
    try:
        assert choice.fake is not None
        assert env["WEATHER_USING_FAKE"] == "1"
        assert "did not answer" in choice.message and "local stand-in" in choice.message
        deadline = time.monotonic() + 20
        while not upstream_answers(env["WEATHER_GEOCODING_URL"]):
            assert time.monotonic() < deadline, "the stand-in never answered"
            time.sleep(0.1)
    finally:
        choice.stop()


def test_make_run_keeps_upstream_urls_it_was_given_and_warns_when_they_do_not_answer():
    given = {"WEATHER_GEOCODING_URL": f"http://127.0.0.1:{free_port()}/v1/search",
             "WEATHER_FORECAST_URL": "http://127.0.0.1:9/v1/forecast"}
    env = dict(given)
    choice = weather_upstream_choose(env, cwd=BASE_DIR)
    assert choice.fake is None
    assert env == given
    assert "did not answer" in choice.message
