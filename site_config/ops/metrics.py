"""The site's metrics, recorded by every process into Redis and read back by /metrics (site_config.ops.collector).

Why Redis and not prometheus_client's multiprocess mode: the Procfile's processes do not share a
disk. Under Heroku, a PaaS or containers, each web and worker process runs on a machine of its
own, so per-process files in PROMETHEUS_MULTIPROC_DIR could only ever be added up per machine, and
a scrape of one web process would miss every worker. Prefork Celery adds child processes that come
and go, each with files to clean up. Redis is the one thing every process already shares (broker,
channel layer, cache), so counters live there: any web process answers /metrics with the totals of
the whole formation, and nothing needs clearing at start (a Prometheus counter may reset; Redis
restarts are handled by rate() like any process restart).

Recording is cheap on the hot paths: `inc()` and `observe()` add to an in-process buffer under a
lock (about a microsecond); a background thread per process sends the buffer to Redis in one
pipeline every METRICS_FLUSH_SECONDS. A failed flush keeps the figures for the next one. Counts of
the last interval are lost if a process is killed outright; a clean exit flushes (atexit, and the
Celery worker-process shutdown signal, see site_config/ops/signals.py).

Redis layout, one hash per metric, `metrics:<name>`: counters have a field per label set (a JSON
list of the label values); histograms a field per label set and bucket plus `sum` and `count`;
per-process gauges a field per process whose value is "<value> <unix time of the flush>", so the
collector can drop processes that stopped reporting. Which workers are online comes from their
heartbeat keys (site_config/ops/liveness.py), not from here.
"""

from __future__ import annotations

import atexit
import bisect
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "metrics:"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "counter", "histogram" or "process_gauge" (one value per process, latest wins)
    documentation: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name

    def inc(self, *label_values: str, amount: int = 1) -> None:
        recorder.inc(self, label_values, amount)

    def observe(self, value: float, *label_values: str) -> None:
        recorder.observe(self, label_values, value)

    def add(self, amount: int, *label_values: str) -> None:
        """Change this process's gauge by `amount` (process gauges only)."""
        recorder.gauge_add(self, label_values, amount)


TASKS_QUEUED = Metric("site_tasks_queued", "counter", "Tasks handed to the broker, by task name and queue.",
                      ("task", "queue"))
TASKS_STARTED = Metric("site_tasks_started", "counter", "Task executions started by a worker.", ("task",))
TASKS_FINISHED = Metric("site_tasks_finished", "counter",
                        "Task executions finished, by outcome (success, failure, retry, revoked, ignored, ...).",
                        ("task", "outcome"))
WEBSOCKETS_OPEN = Metric("site_websockets_open", "process_gauge", "Live websockets open in each web process.")
LIVE_DELIVERY_SECONDS = Metric(
    "site_live_delivery_seconds", "histogram",
    "From a live update's publish to its last local watcher's socket, per message and web process.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
LIVE_RENDERS = Metric("site_live_renders", "counter",
                      "Live updates rendered for pushing, by language (once per update and watched language).",
                      ("language",))
WEATHER_UPSTREAM_REQUESTS = Metric("site_weather_upstream_requests", "counter",
                                   "Requests sent to Open-Meteo (every attempt, retries included).", ("endpoint",))
WEATHER_UPSTREAM_ERRORS = Metric("site_weather_upstream_errors", "counter",
                                 "Open-Meteo requests that failed, by kind (timeout, upstream, rate_limited, ...).",
                                 ("endpoint", "kind"))

RECORDED = (TASKS_QUEUED, TASKS_STARTED, TASKS_FINISHED, WEBSOCKETS_OPEN, LIVE_DELIVERY_SECONDS, LIVE_RENDERS,
            WEATHER_UPSTREAM_REQUESTS, WEATHER_UPSTREAM_ERRORS)


def label_field(label_values: tuple[str, ...], *suffix: str) -> str:
    return json.dumps([*label_values, *suffix])


def process_name() -> str:
    """This process in the formation: its Procfile name when a process manager gives one, and host."""
    name = os.environ.get("DYNO") or os.environ.get("HONCHO_PROCESS_NAME") or f"pid{os.getpid()}"
    return f"{name}@{socket.gethostname()}"


def redis_client():
    """The site's keys Redis with short timeouts (metrics must never hold anything up)."""
    from site_config.machinery.redis_roles import redis_client as role_client

    return role_client("keys", timeout=1)


class Recorder:
    """The buffer of one process, and the thread that sends it to Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._counters: dict[tuple[Metric, tuple], int] = {}
        self._histograms: dict[tuple[Metric, tuple], list] = {}  # [bucket counts..., sum, count]
        self._gauges: dict[tuple[Metric, tuple], int] = {}
        self._failures = 0
        self._process = ""

    # --- recording (any thread) ---

    def inc(self, metric: Metric, label_values: tuple, amount: int) -> None:
        self._ensure_started()
        slot = (metric, tuple(str(value) for value in label_values))
        with self._lock:
            self._counters[slot] = self._counters.get(slot, 0) + amount

    def observe(self, metric: Metric, label_values: tuple, value: float) -> None:
        self._ensure_started()
        slot = (metric, tuple(str(v) for v in label_values))
        index = bisect.bisect_left(metric.buckets, value)  # le buckets: value <= bound
        with self._lock:
            entry = self._histograms.get(slot)
            if entry is None:
                entry = self._histograms[slot] = [0] * (len(metric.buckets) + 1) + [0.0, 0]
            entry[index] += 1
            entry[-2] += value
            entry[-1] += 1

    def gauge_add(self, metric: Metric, label_values: tuple, amount: int) -> None:
        self._ensure_started()
        slot = (metric, (self._process, *(str(v) for v in label_values)))
        with self._lock:
            self._gauges[slot] = self._gauges.get(slot, 0) + amount

    # --- sending ---

    def flush(self) -> bool:
        """Send what this process recorded since the last flush; False if Redis did not take it."""
        if self._pid != os.getpid():
            return True  # nothing recorded in this process
        with self._lock:
            counters, self._counters = self._counters, {}
            histograms, self._histograms = self._histograms, {}
            gauges = dict(self._gauges)  # absolute values, re-sent every time to stay fresh
        if not (counters or histograms or gauges):
            return True
        now = time.time()
        try:
            pipe = redis_client().pipeline(transaction=False)
            for (metric, labels), amount in counters.items():
                pipe.hincrby(metric.key, label_field(labels), amount)
            for (metric, labels), entry in histograms.items():
                for index, count in enumerate(entry[:-2]):
                    if count:
                        pipe.hincrby(metric.key, label_field(labels, f"b{index}"), count)
                pipe.hincrbyfloat(metric.key, label_field(labels, "sum"), entry[-2])
                pipe.hincrby(metric.key, label_field(labels, "count"), entry[-1])
            for (metric, labels), value in gauges.items():
                pipe.hset(metric.key, label_field(labels), f"{value} {now:.3f}")
            pipe.execute()
        except Exception as error:  # Redis away: keep the figures for the next flush
            self._merge_back(counters, histograms)
            self._failures += 1
            if self._failures in (1, 10) or self._failures % 100 == 0:
                logger.warning("could not send metrics to Redis (%s failures so far): %s", self._failures, error)
            return False
        self._failures = 0
        return True

    def _merge_back(self, counters: dict, histograms: dict) -> None:
        with self._lock:
            for slot, amount in counters.items():
                self._counters[slot] = self._counters.get(slot, 0) + amount
            for slot, entry in histograms.items():
                mine = self._histograms.get(slot)
                self._histograms[slot] = entry if mine is None else [a + b for a, b in zip(mine, entry)]

    def forget_gauges(self) -> None:
        """Remove this process's gauges from Redis (a clean exit: it no longer has anything open)."""
        if self._pid != os.getpid() or not self._gauges:
            return
        try:
            pipe = redis_client().pipeline(transaction=False)
            for metric, labels in list(self._gauges):
                pipe.hdel(metric.key, label_field(labels))
            pipe.execute()
        except Exception:
            pass

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child (Celery prefork) starts with an empty buffer: the parent sends its own.
            self._counters, self._histograms, self._gauges = {}, {}, {}
            self._process = process_name()
            threading.Thread(target=self._run, name="metrics-flush", daemon=True).start()
            self._pid = os.getpid()
        atexit.register(self._at_exit)

    def _run(self) -> None:
        while True:
            time.sleep(settings.METRICS_FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # never let the thread die
                logger.exception("metrics flush failed")

    def _at_exit(self) -> None:
        self.flush()
        self.forget_gauges()


recorder = Recorder()
