"""Soak: the whole site under steady load for minutes, with one Redis restart in the middle.

    .venv/bin/python bench/soak.py                  # 10 minutes (the figure in docs/benchmarks.md)
    .venv/bin/python bench/soak.py --minutes 2      # a shorter look

Real processes: one daphne, one Celery worker (prefork, 6 processes), the fake Open-Meteo (200 ms),
a private Redis. Load, all at once for the whole run:
  - 20 demo jobs a second, each reporting 5 steps (the worker's progress path);
  - 200 open task pages: websocket clients, each on the newest job's page for 30 s (the job runs,
    ends, the page is read), then on the newest job again;
  - 50 weather visitors, each streaming /weather/ for 3 cities again and again;
  - the moderation queue open (one websocket).
Halfway, Redis is stopped for 5 s and started again (it keeps nothing on disk).

Printed: each process's resident memory at start and end, errors before and after the restart
(and after it settled: 30 s later), p50/p99 of progress push latency (job report -> page),
snapshot latency (page open -> first frame) and weather page time, per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("PROGRESS_MIN_INTERVAL_MS", "0")
os.environ["WEATHER_CACHE_ENABLED"] = "0"
os.environ["WEATHER_RATE_LIMIT"] = "0"
for window in ("MINUTE", "HOUR", "DAY"):  # the fake upstream has no quota: keep every visitor going upstream
    os.environ[f"WEATHER_UPSTREAM_PER_{window}"] = "100000000"
os.environ["LIVE_PROBE_INTERVAL"] = "2"
import _setup  # noqa: E402,F401  (private Redis, temporary database)
from _setup import BASE_DIR, BIN, REDIS, WORKDIR, free_port, migrate, percentile, wait_for_port  # noqa: E402
from _ws import frames_until  # noqa: E402

STAMP = re.compile(r"t=(\d+\.\d+)")
STATE = re.compile(r'data-state="(\w+)"')


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the worker's pool), in MB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


class Stats:
    def __init__(self) -> None:
        self.phase = "before"
        self.samples: dict[tuple[str, str], list[float]] = {}
        self.errors: dict[str, list[str]] = {}

    def add(self, kind: str, value_ms: float) -> None:
        self.samples.setdefault((self.phase, kind), []).append(value_ms)

    def error(self, what: str) -> None:
        self.errors.setdefault(self.phase, []).append(what)


async def page_watcher(web: str, cookie: str, newest: dict, stats: Stats, stop: float, dwell: float) -> None:
    """One open task page: opens the newest job's page and stays on it for `dwell` seconds (the job
    runs, ends, and the page is read), then opens the newest job again."""
    import websockets

    await asyncio.sleep(random.uniform(0, dwell))  # people do not all arrive in the same second
    while time.time() < stop:
        task_id = newest.get("id")
        if task_id is None:
            await asyncio.sleep(0.2)
            continue
        opened = time.time()
        leave = min(stop, opened + dwell)
        try:
            async with websockets.connect(f"{web}/ws/tasks/{task_id}/", additional_headers={
                    "Cookie": cookie, "Origin": web.replace("ws://", "http://")}, open_timeout=20) as ws:
                await asyncio.wait_for(ws.recv(), timeout=20)
                stats.add("snapshot", (time.time() - opened) * 1000)
                async for now, message in frames_until(ws, leave):
                    for match in STAMP.finditer(message):
                        stats.add("push", (now - float(match.group(1))) * 1000)
        except Exception as error:  # noqa: BLE001  (counted, not hidden)
            stats.error(f"page: {type(error).__name__}")
            await asyncio.sleep(1)


async def weather_visitor(base: str, stats: Stats, stop: float, n: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        while time.time() < stop:
            started = time.time()
            try:
                async with session.get(f"{base}/weather/?cities=Soak{n}a,Soak{n}b,Soak{n}c",
                                       timeout=aiohttp.ClientTimeout(total=30)) as response:
                    await response.read()
                    if response.status != 200:
                        stats.error(f"weather: {response.status}")
                stats.add("weather", (time.time() - started) * 1000)
            except Exception as error:  # noqa: BLE001
                stats.error(f"weather: {type(error).__name__}")
                await asyncio.sleep(1)


async def moderation_watcher(web: str, cookie: str, stats: Stats, stop: float) -> None:
    import websockets

    while time.time() < stop:
        try:
            async with websockets.connect(f"{web}/ws/moderation/", additional_headers={
                    "Cookie": cookie, "Origin": web.replace("ws://", "http://")}, open_timeout=20) as ws:
                while time.time() < stop:
                    await asyncio.wait_for(ws.recv(), timeout=max(1, stop - time.time()))
        except TimeoutError:
            continue
        except Exception as error:  # noqa: BLE001
            stats.error(f"moderation: {type(error).__name__}")
            await asyncio.sleep(1)


async def job_driver(newest: dict, stats: Stats, stop: float, per_second: int) -> None:
    from asgiref.sync import sync_to_async

    from bench.worker_tasks import stamped_demo_job_task

    def queue_one() -> str:
        return stamped_demo_job_task.apply_async((5, 40)).id

    interval = 1 / per_second
    next_at = time.time()
    while time.time() < stop:
        try:
            newest["id"] = await sync_to_async(queue_one, thread_sensitive=False)()
        except Exception as error:  # noqa: BLE001  (Redis down: the job could not be queued)
            stats.error(f"queue: {type(error).__name__}")
        next_at += interval
        await asyncio.sleep(max(0, next_at - time.time()))


async def redis_restart(at: float, stats: Stats, settle: float) -> None:
    await asyncio.sleep(max(0, at - time.time()))
    stats.phase = "restart"
    REDIS.stop()
    await asyncio.sleep(5)
    REDIS.start()
    await asyncio.sleep(settle)
    stats.phase = "after"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--weather", type=int, default=50)
    parser.add_argument("--jobs-per-second", type=int, default=20)
    parser.add_argument("--dwell", type=float, default=30, help="seconds a page stays on one job's page")
    args = parser.parse_args()

    weather_port = free_port()
    os.environ["WEATHER_GEOCODING_URL"] = f"http://127.0.0.1:{weather_port}/v1/search"
    os.environ["WEATHER_FORECAST_URL"] = f"http://127.0.0.1:{weather_port}/v1/forecast"
    migrate()
    import django

    django.setup()
    from _setup import staff_cookie

    cookie = staff_cookie()
    logs = WORKDIR / "logs"
    logs.mkdir()
    fake = subprocess.Popen([sys.executable, "-m", "weather.fake_open_meteo", "--port", str(weather_port),
                             "--latency-ms", "200"], cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    # The clients send Origin http://127.0.0.1:<port>: a trusted origin for the websocket check.
    web = subprocess.Popen([str(BIN / "daphne"), "--bind", "127.0.0.1", "--port", str(port), "site_config.asgi:application"],
                           cwd=BASE_DIR, stdout=open(logs / "daphne.log", "wb"), stderr=subprocess.STDOUT,
                           env={**os.environ, "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}"})
    worker = subprocess.Popen([str(BIN / "celery"), "--app", "site_config", "worker", "--loglevel", "WARNING",
                               "--concurrency", "6", "--hostname", "soak@%h",
                               "--include", "bench.worker_tasks"],
                              cwd=BASE_DIR, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT)
    wait_for_port(port)
    wait_for_port(weather_port)
    time.sleep(5)  # the worker's pool
    processes = {"daphne": web, "worker (main + pool)": worker}
    memory_start = {name: rss_mb(p.pid) for name, p in processes.items()}
    stats = Stats()
    seconds = args.minutes * 60
    start = time.time()
    stop = start + seconds
    ws_base, http_base = f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    newest: dict = {}

    async def run() -> None:
        await asyncio.gather(
            job_driver(newest, stats, stop, args.jobs_per_second),
            redis_restart(start + seconds / 2, stats, settle=30),
            moderation_watcher(ws_base, cookie, stats, stop),
            *(page_watcher(ws_base, cookie, newest, stats, stop, args.dwell) for _ in range(args.pages)),
            *(weather_visitor(http_base, stats, stop, n) for n in range(args.weather)),
        )

    try:
        asyncio.run(run())
        memory_end = {name: rss_mb(p.pid) for name, p in processes.items()}
    finally:
        for process in (web, worker, fake):
            process.terminate()
        for process in (web, worker, fake):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    # Requests during the Redis restart may fail (that phase is what the soak is for, and its errors are
    # printed); before the restart and once it has settled, every request must succeed, or the run
    # has no figures.
    steady_errors = len(stats.errors.get("before", [])) + len(stats.errors.get("after", []))
    if steady_errors:
        print(f"soak: {steady_errors} requests failed outside the Redis restart; no figures. "
              f"before: {stats.errors.get('before', [])[:5]}, after: {stats.errors.get('after', [])[:5]}",
              file=sys.stderr)
        sys.exit(1)
    print(f"soak: {args.minutes:g} min, {args.pages} task pages, {args.weather} weather visitors, "
          f"{args.jobs_per_second} jobs/s, Redis restarted at {args.minutes / 2:g} min")
    print("memory (RSS, MB):")
    for name in processes:
        print(f"  {name:22} start {memory_start[name]:7.1f}  end {memory_end[name]:7.1f}  "
              f"growth {memory_end[name] - memory_start[name]:+7.1f}")
    print("latency (ms):          phase      count      p50      p99")
    for (phase, kind), values in sorted(stats.samples.items(), key=lambda item: (item[0][1], item[0][0])):
        print(f"  {kind:20} {phase:8} {len(values):8d} {percentile(values, 50):8.0f} {percentile(values, 99):8.0f}")
    print("errors:")
    for phase in ("before", "restart", "after"):
        found = stats.errors.get(phase, [])
        counts: dict[str, int] = {}
        for what in found:
            counts[what] = counts.get(what, 0) + 1
        print(f"  {phase:8} {len(found):6d}  {counts if counts else ''}")


if __name__ == "__main__":
    main()
