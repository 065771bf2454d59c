"""/healthz and /readyz: what a load balancer sees of one web process."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from django.db import connections

from site_config.devtools.local_redis import free_port
from site_config.ops.readiness import readiness
from tests.conftest import WORKDIR, start_daphne


@pytest.fixture(autouse=True)
def fresh_readiness():
    readiness._result = None
    yield
    readiness._result = None


READER = "metrics-reader-token-0123456789"


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthz_answers_ok_without_touching_anything(client, settings):
    # No database fixture (any query would raise) and a Redis URL where nothing listens.
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Cache-Control"] == "no-store"


def test_probes_answer_any_host_over_plain_http_in_production(client, settings, db):
    # A load balancer asks by the process's own address, over HTTP: no 400 for the Host, no 301 to HTTPS.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["example.com"]
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code in (200, 503)
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400, "other pages keep the host check"
    assert client.post("/healthz").status_code == 405


def test_readyz_is_ok_with_database_migrations_redis_and_a_worker(live_worker, client, settings):
    from tests.livetools import wait_for

    settings.METRICS_TOKEN = READER

    def ready():
        readiness._result = None
        body = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {READER}").json()
        return body if body["status"] == "ok" else None

    body = wait_for(ready, timeout=20, interval=0.5)  # the worker's first heartbeat
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["migrations"] == {"ok": True, "unapplied": 0}
    assert checks["redis"]["ok"] and checks["workers"]["ok"] and checks["workers"]["online"] >= 1


def test_readyz_with_redis_down_is_degraded_but_still_200(client, settings, db):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the test client's address: a trusted network
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["checks"]["workers"] == {"ok": False, "online": None}
    assert "127.0.0.1" not in response.content.decode(), "no addresses or URLs in a public body"


def test_readyz_result_is_reused_for_a_second_and_shared_by_concurrent_probes(db, settings, monkeypatch):
    settings.READINESS_CACHE_SECONDS = 1.0
    calls = []
    original = readiness._database

    def counting_database():
        calls.append(1)
        return original()

    monkeypatch.setattr(readiness, "_database", counting_database)

    async def probes():
        return await asyncio.gather(*(readiness.result() for _ in range(20)))

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as executor:  # a fresh loop, whatever runs in this thread
        results = executor.submit(asyncio.run, probes()).result()
        again = executor.submit(asyncio.run, probes()).result()
    # The check's own thread keeps its database connection (as in a web process); closed here, else
    # it holds the test database open and PostgreSQL refuses to drop it at the end of the run.
    readiness._executor.submit(connections.close_all).result()
    assert len(calls) == 1
    assert all(result is results[0] for result in results + again)


@pytest.mark.live
@pytest.mark.parametrize(("database_url", "failed_check"), [
    (f"postgres://nobody@127.0.0.1:{free_port()}/nothing", "database"),
    (f"sqlite:///{WORKDIR / 'never-migrated.sqlite3'}", "migrations"),
], ids=["database unreachable", "migrations not applied"])
def test_readyz_fails_when_this_process_cannot_serve(django_db_setup, database_url, failed_check):
    server = start_daphne(f"daphne-{failed_check}", env={"DATABASE_URL": database_url, "METRICS_TOKEN": READER})
    try:
        assert get(f"{server.url}/healthz") == (200, "ok\n"), "alive, though not ready"
        public = get(f"{server.url}/readyz")
        status, body = get(f"{server.url}/readyz", {"Authorization": f"Bearer {READER}"})
    finally:
        server.stop()
    assert status == 503 and public == (503, '{"status": "fail"}')
    result = json.loads(body)
    assert result["status"] == "fail"
    assert result["checks"][failed_check]["ok"] is False
    if failed_check == "migrations":
        assert result["checks"]["migrations"]["unapplied"] > 0
    assert "nobody" not in body and "sqlite" not in body


def test_readyz_tells_the_public_only_its_status(client, settings, db):
    settings.METRICS_TOKEN = READER
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    public = client.get("/readyz")
    assert public.status_code == 200 and public.json() == {"status": "degraded"}
    wrong = client.get("/readyz", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert wrong.json() == {"status": "degraded"}
    readiness._result = None
    detailed = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {READER}").json()
    assert detailed["status"] == "degraded" and "migrations" in detailed["checks"] and "workers" in detailed["checks"]
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/readyz", REMOTE_ADDR="10.1.2.3").json()["checks"]["redis"]["ok"] is False
    assert client.get("/readyz", REMOTE_ADDR="203.0.113.9").json() == {"status": "degraded"}
