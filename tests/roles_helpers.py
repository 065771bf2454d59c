"""Helpers for the tests that run the site on Redis by role, Sentinel, pgbouncer or a build folder:
private Redis servers (with a replica and a sentinel when asked), and the API calls a script makes."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import redis

from site_config.devtools.local_redis import PrivateRedis, free_port
from tests.conftest import grant, make_user, service_missing
from tests.plugin import WORKDIR

SENTINEL_MASTER = "sitemaster"


def redis_server(name: str, **config: str) -> PrivateRedis:
    """A private Redis (nothing on disk) with `config` applied (e.g. maxmemory="2mb")."""
    server = PrivateRedis(WORKDIR / f"redis-{name}-{free_port()}").start()
    client = redis.Redis(port=server.port)
    for key, value in config.items():
        client.config_set(key.replace("_", "-"), value)
    client.close()
    return server


def staff_with_token(username: str, *permissions: str) -> tuple[object, str]:
    from dashboard.api.tokens import api_token_create

    user = grant(make_user(username, staff=True), *permissions) if permissions else make_user(username, staff=True)
    _row, token = api_token_create(user=user, name="script")
    return user, token


def api_call(server, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one API request to a daphne started by the tests."""
    parsed = urlparse(server.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"raw": raw.decode(errors="replace")}
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def demo_job_start(server, token: str, *, steps: int, delay_ms: int) -> str:
    status, _headers, body = api_call(server, "POST", "/api/demo-jobs/", token, {"steps": steps, "delay_ms": delay_ms})
    assert status in (201, 202), (status, body)
    return body["task_id"]


# --- Sentinel: a master, one replica and one sentinel, each on a free port ---


def redis_sentinel_binary() -> str:
    found = shutil.which("redis-sentinel") or ("/usr/bin/redis-sentinel" if Path("/usr/bin/redis-sentinel").exists() else None)
    if not found:
        service_missing("redis-sentinel is not installed (make system-deps installs Debian's redis-sentinel)")
    return found


class SentinelGroup:
    """A Redis master, its replica and a sentinel watching them (quorum 1, fast failover)."""

    def __init__(self, name: str) -> None:
        binary = redis_sentinel_binary()
        self.master = redis_server(f"{name}-master")
        self.replica = redis_server(f"{name}-replica")
        replica = redis.Redis(port=self.replica.port)
        replica.replicaof("127.0.0.1", self.master.port)
        deadline = time.monotonic() + 20
        while replica.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not connect to its master")
            time.sleep(0.1)
        replica.close()
        self.port = free_port()
        folder = WORKDIR / f"sentinel-{name}-{self.port}"
        folder.mkdir(parents=True)
        config = folder / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {folder}\nlogfile {folder / 'sentinel.log'}\n"
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n"
            f"sentinel failover-timeout {SENTINEL_MASTER} 5000\n"
            f"sentinel parallel-syncs {SENTINEL_MASTER} 1\n"
        )
        self.log_path = folder / "sentinel.log"
        self.process = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.sentinel_get_master_addr_by_name(SENTINEL_MASTER):
                    # Known replicas: the sentinel found the replica through the master's INFO.
                    if client.sentinel_slaves(SENTINEL_MASTER):
                        break
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sentinel did not start: {self.log_path}")
            time.sleep(0.2)
        client.close()

    def url(self, db: int = 0) -> str:
        """The site's documented form for a Sentinel-managed Redis."""
        return f"sentinel://127.0.0.1:{self.port}/{SENTINEL_MASTER}/{db}"

    def master_port(self) -> int:
        client = redis.Redis(port=self.port)
        try:
            return int(client.sentinel_get_master_addr_by_name(SENTINEL_MASTER)[1])
        finally:
            client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.replica.stop()
        self.master.stop()
