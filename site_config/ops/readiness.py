"""Readiness of this web process: what it needs to serve, and what it can serve without.

Fails (the view answers 503) only on what a web process cannot serve without: the database, and the
migrations this code expects. Redis (broker, channel layer, cache) and the workers are reported as
"degraded" with status 200: they are shared by every web process, so failing on them would take the
whole formation out of the load balancer at once, when most pages still render.

Cheap enough to poll every second from several load balancers: one check runs at a time per process
(in one thread of its own, since the ORM is synchronous), and its result is reused for
READINESS_CACHE_SECONDS. The migration plan (MigrationExecutor, as `migrate` computes it) costs
about 3 ms once the migration modules are loaded (35 ms the first time). The body holds no secret: booleans, counts, timings and exception class
names, never a URL, host or message.

A process told to stop (site_config/ops/web.py, on SIGTERM) answers 503 with status "stopping" at
once, without any check, for the rest of its life: the load balancer sends it no new traffic while
it finishes what it serves.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from site_config.ops.liveness import redis_client, workers_alive

#: How long a probe waits for the checks before answering 503 (a hung database).
TIMEOUT_SECONDS = 3.0


class Readiness:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
        self._future: Future | None = None
        self._result: dict | None = None
        self._checked_at = float("-inf")
        self.stopping = False

    def stop_begin(self) -> None:
        """From now on this process answers "stopping" (503): it is going away."""
        self.stopping = True

    async def result(self) -> dict:
        """The latest result if fresh enough, else a new check (shared by concurrent callers)."""
        if self.stopping:
            return {"status": "stopping", "checks": {}}
        if self._result is not None and time.monotonic() - self._checked_at < settings.READINESS_CACHE_SECONDS:
            return self._result
        with self._lock:
            if self._future is None or self._future.done():
                self._future = self._executor.submit(self._check)
            future = self._future
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), TIMEOUT_SECONDS)
        except TimeoutError:
            return {"status": "fail", "checks": {"database": {"ok": False, "error": "timeout"}}}

    def _check(self) -> dict:
        checks = {"database": self._database()}
        checks["migrations"] = self._migrations() if checks["database"]["ok"] else {"ok": False, "error": "no database"}
        checks["redis"], alive = self._redis()
        online = len(alive) if checks["redis"]["ok"] else None
        checks["workers"] = {"ok": bool(online), "online": online}
        connection.close_if_unusable_or_obsolete()
        if not (checks["database"]["ok"] and checks["migrations"]["ok"]):
            status = "fail"
        elif not (checks["redis"]["ok"] and checks["workers"]["ok"]):
            status = "degraded"
        else:
            status = "ok"
        result = {"status": status, "checks": checks}
        self._result, self._checked_at = result, time.monotonic()
        return result

    def _database(self) -> dict:
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception as error:
            connection.close()  # a broken connection is opened afresh next time
            return {"ok": False, "error": type(error).__name__}
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}

    def _migrations(self) -> dict:
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except Exception as error:
            connection.close()
            return {"ok": False, "error": type(error).__name__}
        return {"ok": not plan, "unapplied": len(plan)}

    def _redis(self) -> tuple[dict, dict]:
        started = time.perf_counter()
        try:
            alive = workers_alive(redis_client())
        except Exception as error:
            return {"ok": False, "error": type(error).__name__}, {}
        return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}, alive


readiness = Readiness()
