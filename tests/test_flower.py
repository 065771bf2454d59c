"""Flower (site_config/ops/flower.py): refuses to start open in production, refuses unauthenticated requests."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from site_config.devtools.local_redis import free_port
from tests.conftest import BASE_DIR, Process, child_env

pytestmark = pytest.mark.live

PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "test-secret-key-" + "x" * 40,
              "SITE_URL": "https://example.com"}


def _get(url: str, auth: str | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_flower_refuses_to_start_without_auth_when_debug_is_off(django_db_setup):
    env = child_env(**PRODUCTION)
    env.pop("FLOWER_BASIC_AUTH", None)
    finished = subprocess.run(
        [sys.executable, "-m", "site_config.ops.flower"], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2
    assert "Refusing to start Flower without authentication" in finished.stderr


def test_flower_refuses_unauthenticated_requests_and_admits_the_configured_user(django_db_setup):
    port = free_port()
    flower = Process(
        "flower",
        [sys.executable, "-m", "site_config.ops.flower"],
        child_env(**PRODUCTION, FLOWER_BASIC_AUTH="ops:s3cret-pass", FLOWER_PORT=str(port)),
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                status = _get(url)
                break
            except (urllib.error.URLError, ConnectionError):
                if flower.popen.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"flower did not start:\n{flower.log()[-3000:]}") from None
                time.sleep(0.3)
        assert status == 401
        assert _get(url, "ops:wrong") == 401
        assert _get(url, "ops:s3cret-pass") == 200
        assert "127.0.0.1" in flower.log() or "Visit me at" in flower.log()
    finally:
        flower.stop()
