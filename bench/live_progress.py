"""Benchmark: latency from report_progress() to websocket clients, fan-out, and throttling cost.

    .venv/bin/python bench/live_progress.py            # all scenarios (about 3 minutes)
    .venv/bin/python bench/live_progress.py --quick    # shorter runs
    .venv/bin/python bench/live_progress.py --only 2   # one scenario (3 always runs: it is quick)
    .venv/bin/python bench/live_progress.py --only 4   # several web processes (about 4 minutes; --cases 2000x2)
    .venv/bin/python bench/live_progress.py --only 1 --zh-share 0.5   # half the watchers read zh-Hant

Scenarios:
  1. one task reporting at 10 Hz watched by N = 1, 100, 1000 clients on its task page;
  2. 100 tasks reporting at 10 Hz at once, each watched by its own client, plus 20 list clients;
  3. a 100,000-report loop with progress on versus off (run-time ratio);
  4. one task at 10 Hz for 60 s: 1,000 watchers on 1 daphne process, then on 2, then 2,000 on 2
     (watchers split evenly between the processes, as a proxy in front would share them out).

A driver (this process) stands in for workers: it creates real task rows and calls the real
reporting API (LiveTask.report_progress inside a pushed request context), which stores each report
and publishes it through dashboard.live.publisher -> channels-redis -> one real daphne process. Each
report's message carries its wall-clock send time, so clients (separate processes) measure the
latency of every message they receive. The throttle is set to 50 ms so every 10 Hz report goes out.
Every row reports the CPU of every process: each daphne, the driver, the client processes, Redis.

`--zh-share S`: that share of the watchers open their socket with `Accept-Language: zh-TW`, the rest
in English. Each watcher checks that every fragment it gets is in its own language (the state badge:
English words for English watchers, Chinese for the others); the row reports how many renders each
language cost the driver (metric site_live_renders): one per update per language watched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time

if __name__ == "__main__" and "--clients" not in sys.argv:
    os.environ["PROGRESS_MIN_INTERVAL_MS"] = "50"
    # Every watcher is the same staff account: lift the per-account socket cap (30 by default, which
    # closes the 31st socket with 4429) above the largest scenario, or the clients wait for ever.
    os.environ.setdefault("LIVE_CONNECTIONS_PER_ACCOUNT", "5000")
    import _setup  # noqa: F401  (private Redis, temporary database)

STAMP = re.compile(r"t=(\d+\.\d+) seq=(\d+)")
STATE = re.compile(r'data-state="(\w+)"')
BADGE = re.compile(r'<span class="badge [a-z]+">([^<]*)<')
ZH_ACCEPT = "zh-TW,zh;q=0.9"


# ---------------------------------------------------------------- clients (a separate process)

async def _client(url: str, headers: dict, results: dict, finals_needed: int, deadline: float, ready) -> None:
    import websockets
    from _ws import frames_until

    chinese = "Accept-Language" in headers

    latencies, received, finals = results["latencies"], results, 0
    async with websockets.connect(url, additional_headers=headers, open_timeout=60, max_queue=None) as ws:
        await ws.recv()  # snapshot
        ready()
        async for now, message in frames_until(ws, deadline if finals_needed else 0):
            received["messages"] += 1
            for label in BADGE.findall(message):
                if label.isascii() == chinese:  # a Chinese watcher given English words, or the reverse
                    received["wrong_language"] += 1
            for match in STAMP.finditer(message):
                latencies.append((round(now, 3), (now - float(match.group(1))) * 1000))
            if "SUCCESS" in (STATE.findall(message) or []):
                finals += 1
                if finals >= finals_needed:
                    break
        received["finals"] += finals


async def _run_clients(args) -> None:
    spec = json.loads(args.clients)
    results = {"latencies": [], "messages": 0, "finals": 0, "connected": 0, "wrong_language": 0}
    headers = {"Cookie": spec["cookie"], "Origin": spec["origin"]}
    deadline = time.time() + spec["max_seconds"]
    connected = 0

    def ready():
        nonlocal connected
        connected += 1
        if connected == len(spec["paths"]):
            print("READY", flush=True)

    jobs = []
    for path, finals_needed, language in spec["paths"]:
        own = {**headers, "Accept-Language": language} if language else headers
        jobs.append(asyncio.create_task(_client(spec["ws_url"] + path, own, results, finals_needed, deadline,
                                                ready)))
        if len(jobs) % 25 == 0:  # connect in waves: each handshake reads the session from the database
            while connected < len(jobs):
                await asyncio.sleep(0.01)
    await asyncio.gather(*jobs, return_exceptions=False)
    results["connected"] = connected
    print("RESULT " + json.dumps(results), flush=True)


# ---------------------------------------------------------------- driver (this process)

def _django():
    import django

    django.setup()


def _start_daphne(name: str = "daphne"):
    from _setup import BASE_DIR, BIN, free_port

    port = free_port()
    log = open(os.path.join(os.environ["DJANGO_VAR_DIR"], f"{name}.log"), "ab")
    # The clients send Origin http://127.0.0.1:<port>: a trusted origin for the websocket check
    # (SITE_URL must stay https with DEBUG off).
    proc = subprocess.Popen([str(BIN / "daphne"), "--bind", "127.0.0.1", "--port", str(port),
                             "site_config.asgi:application"], cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
                                 "PORT": str(port)})
    from _setup import wait_for_port

    wait_for_port(port)
    return proc, port


def _staff_cookie() -> str:
    from _setup import staff_cookie

    return staff_cookie()


def _new_task_ids(count: int) -> list[str]:
    from celery import uuid

    from dashboard.live.store import record_queued

    ids = []
    for _ in range(count):
        task_id = uuid()
        record_queued(task_id=task_id, task_name="bench.progress", argsrepr="()", kwargsrepr="{}",
                      periodic_task_name=None, launched_by=None)
        ids.append(task_id)
    return ids


def _start_clients(ports: list[int], cookie: str, paths: list[tuple[str, int]], max_seconds: float, procs: int):
    """`procs` client processes sharing `paths`; client process i talks to daphne ports[i % len(ports)]."""
    chunks = [paths[i::procs] for i in range(procs)]
    clients = []
    for index, chunk in enumerate(chunks):
        if not chunk:
            continue
        port = ports[index % len(ports)]
        spec = {"ws_url": f"ws://127.0.0.1:{port}", "origin": f"http://127.0.0.1:{port}", "cookie": cookie,
                "paths": chunk, "max_seconds": max_seconds}
        clients.append(subprocess.Popen([sys.executable, __file__, "--clients", json.dumps(spec)],
                                        stdout=subprocess.PIPE, text=True))
    for client in clients:
        line = client.stdout.readline()
        if not line.startswith("READY"):
            raise RuntimeError(f"client process failed: {line!r}")
    return clients


def _collect(clients) -> dict:
    total = {"latencies": [], "messages": 0, "finals": 0, "connected": 0, "wrong_language": 0}
    for client in clients:
        out, _ = client.communicate(timeout=600)
        for line in out.splitlines():
            if line.startswith("RESULT "):
                part = json.loads(line[7:])
                for key in ("messages", "finals", "connected", "wrong_language"):
                    total[key] += part[key]
                total["latencies"].extend(part["latencies"])
    return total


def _drive(task_ids: list[str], hz: float, seconds: float) -> int:
    """Report progress for every task at `hz` for `seconds`, via the real API; returns reports sent."""
    from dashboard.tasks import demo_job_task

    task = demo_job_task._get_current_object()  # any LiveTask; we push a request for each id
    from dashboard.live.publisher import publisher

    steps = int(hz * seconds)
    sent = 0
    start = time.monotonic()
    for step in range(1, steps + 1):
        target = start + step / hz
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for task_id in task_ids:
            task.push_request(id=task_id, called_directly=False)
            task.progress_begin()  # one driver thread plays many executions: a throttle for each call
            try:
                if task.report_progress(step, steps, f"t={time.time():.6f} seq={step}"):
                    sent += 1
            finally:
                task.pop_request()
    # Final state, stored and published like the worker does after a task returns.
    from celery import states
    from django_celery_results.models import TaskResult

    from dashboard.live.publish import publish_view
    from dashboard.live.store import load_view

    for task_id in task_ids:
        TaskResult.objects.filter(task_id=task_id).update(status=states.SUCCESS, result='{"ok": true}')
        publish_view(load_view(task_id))
    publisher.flush(30)
    return sent


def _row(name: str, watchers: int, expected: int, result: dict, cpu: dict, seconds: float) -> dict:
    from _setup import percentile

    samples = result["latencies"]  # (received at, latency ms)
    lat = [latency for _at, latency in samples]
    first = min((at for at, _ in samples), default=0)
    last = max((at for at, _ in samples), default=0)
    result["early"] = [latency for at, latency in samples if at - first < 10]
    result["late"] = [latency for at, latency in samples if last - at < 10]
    return {
        "scenario": name, "watchers": watchers, "expected": expected, "delivered": len(lat),
        "coalesced": expected - len(lat), "finals": result["finals"],
        "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99), "max": max(lat or [0]),
        "cpu_daphne": [each / seconds for each in cpu["daphne"]], "cpu_driver": cpu["driver"] / seconds,
        "cpu_clients": cpu["clients"] / seconds, "cpu_redis": cpu["redis"] / seconds,
        "cpu_machine": cpu["machine"] / seconds,
        "p99_first_10s": percentile(result.get("early", []), 99), "p99_last_10s": percentile(result.get("late", []), 99),
    }


def _renders() -> dict[str, int]:
    """Live renders so far, by language (this driver's own counts, sent to Redis first)."""
    from site_config.ops.metrics import LIVE_RENDERS, label_field, recorder, redis_client

    recorder.flush()
    raw = redis_client().hgetall(LIVE_RENDERS.key)
    return {language: int(raw.get(label_field((language,)).encode(), 0)) for language in ("en", "zh-hant")}


def _scenario(name, daphnes, cookie, task_count, watchers_per_task, list_watchers, hz, seconds, procs, zh_share=0.0):
    """`daphnes`: [(process, port)] the watchers are shared between; `zh_share` of them read zh-Hant."""
    from _setup import REDIS, cpu_seconds, machine_busy_seconds

    task_ids = _new_task_ids(task_count)
    paths = [(f"/ws/tasks/{tid}/", 1) for tid in task_ids for _ in range(watchers_per_task)]
    paths += [("/ws/tasks/", task_count)] * list_watchers
    # Every 1/share-th watcher in Chinese, so each client process and daphne gets both languages.
    chinese = round(len(paths) * zh_share)
    paths = [(path, needed, ZH_ACCEPT if chinese and index * chinese // len(paths) != (index + 1) * chinese // len(paths)
              else None) for index, (path, needed) in enumerate(paths)]
    clients = _start_clients([port for _, port in daphnes], cookie, paths, seconds + 60, procs)
    redis_pid = REDIS.process.pid
    before = {"daphne": [cpu_seconds(process.pid) for process, _ in daphnes], "driver": time.process_time(),
              "clients": sum(cpu_seconds(c.pid) for c in clients), "redis": cpu_seconds(redis_pid),
              "machine": machine_busy_seconds()}
    renders_before = _renders()
    started = time.monotonic()
    sent = _drive(task_ids, hz, seconds)
    elapsed = time.monotonic() - started
    after_clients = sum(cpu_seconds(c.pid) for c in clients)
    after = {"daphne": [cpu_seconds(process.pid) for process, _ in daphnes], "driver": time.process_time(),
             "redis": cpu_seconds(redis_pid), "machine": machine_busy_seconds()}
    result = _collect(clients)
    renders_after = _renders()
    result["renders"] = {language: renders_after[language] - renders_before[language] for language in renders_after}
    cpu = {"daphne": [a - b for a, b in zip(after["daphne"], before["daphne"])],
           "driver": after["driver"] - before["driver"], "clients": after_clients - before["clients"],
           "redis": after["redis"] - before["redis"], "machine": after["machine"] - before["machine"]}
    per_task_expected = sent // max(1, task_count)
    # A list watcher gets the updates of the rows on its page (the 25 newest tasks): new tasks
    # beyond it only raise the "N new tasks" bar.
    shown = min(task_count, 25)
    expected = per_task_expected * task_count * watchers_per_task + per_task_expected * shown * list_watchers
    # Every watcher must have connected and seen each of its tasks finish; otherwise the latencies
    # are those of a run in which some people were left without their page.
    from _setup import require_clean

    finals_needed = sum(needed for _path, needed, _language in paths)
    missing = (len(paths) - result["connected"]) + (finals_needed - result["finals"]) + result["wrong_language"]
    require_clean(name, missing, len(paths) + finals_needed,
                  f"{result['connected']} of {len(paths)} watchers connected, {result['finals']} of "
                  f"{finals_needed} final states seen, {result['wrong_language']} fragments in the wrong language")
    row = _row(name, len(paths), expected, result, cpu, elapsed)
    row.update(zh_watchers=chinese, renders=result["renders"], updates=sent + task_count)
    return row


def _tight_item(i: int) -> int:
    return len(json.dumps({"id": i, "name": f"row {i}", "tags": list(range(i % 20))}))  # about 4 us


def _typical_item(i: int) -> int:
    import hashlib

    return hashlib.sha256(b"%d" % i * 2000).digest()[0]  # hashes 8-14 kB: tens of microseconds


def _loop_ratio(iterations: int, item=_tight_item) -> dict:
    """Scenario 3: the same loop with report_progress on and off (median of 5 runs each), at the
    production default throttle (PROGRESS_MIN_INTERVAL_MS=200)."""
    from django.conf import settings

    from dashboard.tasks import demo_job_task

    settings.PROGRESS_MIN_INTERVAL_MS = 200
    task = demo_job_task._get_current_object()  # any LiveTask; inside a task, `self` is the real object, not a proxy

    def run(report: bool) -> float:
        task_id = _new_task_ids(1)[0]
        task.push_request(id=task_id, called_directly=False)
        task.progress_begin()
        try:
            start = time.perf_counter()
            total = 0
            for i in range(1, iterations + 1):
                total += item(i)
                if report:
                    task.report_progress(i, iterations, "looping")
            return time.perf_counter() - start
        finally:
            task.pop_request()

    off = sorted(run(False) for _ in range(5))[2]
    on = sorted(run(True) for _ in range(5))[2]
    return {"iterations": iterations, "off_s": off, "on_s": on, "ratio": on / off,
            "overhead_ns_per_call": (on - off) / iterations * 1e9}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", type=int, choices=(1, 2, 3, 4), help="run one scenario")
    parser.add_argument("--zh-share", type=float, default=0.0,
                        help="share of the watchers (0 to 1) whose sockets ask for zh-Hant (default: %(default)s)")
    parser.add_argument("--cases", default="1000x1,1000x2,2000x2",
                        help="scenario 4: WATCHERSxPROCESSES, comma-separated (default: %(default)s)")
    args = parser.parse_args()
    if args.clients:
        asyncio.run(_run_clients(args))
        return
    from _setup import migrate

    migrate()
    _django()
    daphnes = [_start_daphne("daphne.1")]
    try:
        cookie = _staff_cookie()
        seconds = 5 if args.quick else 10
        rows = []
        for watchers in (1, 100, 1000) if args.only in (None, 1) else ():
            run_for = seconds if watchers < 1000 else (10 if args.quick else 60)
            share = f", {args.zh_share:.0%} zh-Hant" if args.zh_share else ""
            rows.append(_scenario(f"1: one task at 10 Hz, {watchers} watchers{share}", daphnes, cookie,
                                  1, watchers, 0, 10, run_for, 1 if watchers < 1000 else 2, zh_share=args.zh_share))
            print(json.dumps(rows[-1]), flush=True)
        if args.only in (None, 2):
            rows.append(_scenario("2: 100 tasks at 10 Hz, 1 watcher each + 20 list", daphnes, cookie,
                                  100, 1, 20, 10, seconds, 1))
            print(json.dumps(rows[-1]), flush=True)
        if args.only == 4:
            run_for = 10 if args.quick else 60
            cases = [tuple(int(n) for n in case.split("x")) for case in args.cases.split(",")]
            while len(daphnes) < max(processes for _, processes in cases):
                daphnes.append(_start_daphne(f"daphne.{len(daphnes) + 1}"))
            for watchers, processes in cases:
                # One client process per 500 watchers, each talking to one daphne.
                rows.append(_scenario(f"4: one task at 10 Hz, {watchers} watchers on {processes} web process"
                                      f"{'es' if processes > 1 else ''}", daphnes[:processes], cookie,
                                      1, watchers, 0, 10, run_for, max(1, watchers // 500)))
                print(json.dumps(rows[-1]), flush=True)
            _print_table(rows, [])
            return
        loops = [_loop_ratio(100_000, _tight_item), _loop_ratio(100_000, _typical_item)]
        for loop in loops:
            print(json.dumps(loop), flush=True)
        _print_table(rows, loops)
    finally:
        for daphne, _port in daphnes:
            daphne.terminate()


def _print_table(rows, loops) -> None:
    print("\n| scenario | watchers | expected | delivered | coalesced | finals | p50 ms | p95 ms | p99 ms | max ms "
          "| p99 first 10 s | p99 last 10 s | CPU daphne (each) | CPU driver | CPU clients | CPU Redis "
          "| whole machine |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['scenario']} | {r['watchers']} | {r['expected']} | {r['delivered']} | {r['coalesced']} "
              f"| {r['finals']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['max']:.1f} "
              f"| {r['p99_first_10s']:.1f} | {r['p99_last_10s']:.1f} "
              f"| {' + '.join(f'{each:.0%}' for each in r['cpu_daphne'])} | {r['cpu_driver']:.0%} "
              f"| {r['cpu_clients']:.0%} | {r['cpu_redis']:.0%} | {r['cpu_machine']:.0%} |")
    for r in rows:
        print(f"{r['scenario']}: {r['zh_watchers']} of {r['watchers']} watchers in zh-Hant; {r['updates']} updates "
              f"rendered {r['renders']['en']} times in English, {r['renders']['zh-hant']} in zh-Hant")
    for loop, work in zip(loops, ("tight items (~4 us each)", "typical items (~30 us each)")):
        print(f"\n3: {loop['iterations']:,}-report loop, {work}: off {loop['off_s']*1000:.1f} ms, "
              f"on {loop['on_s']*1000:.1f} ms, ratio {loop['ratio']:.3f}, "
              f"{loop['overhead_ns_per_call']:.0f} ns per report_progress call")


if __name__ == "__main__":
    main()
