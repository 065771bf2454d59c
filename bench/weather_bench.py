"""Weather benchmark: the streaming async view against the local fake Open-Meteo, with two baselines.

Cache off and distinct city names, so every card costs real upstream calls (geocoding + forecast,
each with the fake's configured latency). Scenarios:

(a) one visitor, 10 cities, 500 ms upstream latency: time to the first and the last card, against a
    single city's time (target: last card within 1.2x of one city, not the sum);
(b) 500 concurrent visitors x 3 cities, 200 ms latency, one daphne process: throughput, p50/p99 to
    the first and last card, errors (target: p99 to last card under 1.5 s, no errors);
(c) the same load against a synchronous view fetching city by city on a threaded WSGI server, and an
    async view that gathers every city before rendering anything.

(d) with `--processes 2`: the same 500 x 3 load on two daphne processes (visitors alternate between
    them, as a proxy in front would share them out), cache off, distinct cities; the one-process
    streaming run (b) again beside it, same day, same machine (target: p99 to last card <= 2.2 s);
(e) with `--processes 2`: cache on, every visitor asking for the same 3 popular cities, cache warmed
    by one visitor first (target: p99 <= 1.5 s).
Every run reports the CPU of every process: each daphne, the fake Open-Meteo, Redis and the load
generator (this process).

Run: `.venv/bin/python bench/weather_bench.py [--visitors 500]`, or `... --processes 2` for (b), (d)
and (e). Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

setup = None  # bench._setup (a private Redis, env), imported by main(), not by the WSGI child it starts

CARD_MARK = b'<li class="city-card'


def _start(args, env, name):
    import subprocess

    log = open(setup.WORKDIR / f"{name}.log", "wb")
    return subprocess.Popen(args, env=env, cwd=setup.BASE_DIR, stdout=log, stderr=subprocess.STDOUT)


def _wait_http(url, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def _configure_fake(fake_url, latency_ms):
    request = urllib.request.Request(f"{fake_url}/_control", data=json.dumps({"latency_ms": latency_ms}).encode(),
                                     method="POST")
    urllib.request.urlopen(request, timeout=10).read()


async def _visit(session, url, started_at):
    """One visitor: (seconds to first card, seconds to last card, cards, error cards, ok)."""
    first = last = None
    cards = errors = 0
    tail = b""
    async with session.get(url) as response:
        async for chunk in response.content.iter_any():
            now = time.monotonic() - started_at
            data = tail + chunk
            found = data.count(CARD_MARK)
            if found:
                cards += found
                errors += data.count(b'<li class="city-card failed')
                first = first if first is not None else now
                last = now
            tail = data[-len(CARD_MARK):]
        return first, last, cards, errors, response.status == 200


async def _load(url_for, visitors, cities_each):
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.monotonic()
        results = await asyncio.gather(*(_timed(session, url_for(v, cities_each)) for v in range(visitors)),
                                       return_exceptions=True)
        wall = time.monotonic() - started
    good = [r for r in results if not isinstance(r, BaseException)]
    errors = len(results) - len(good) + sum(1 for r in good if not r[4] or r[3] or r[2] != cities_each)
    firsts = [r[0] for r in good if r[0] is not None]
    lasts = [r[1] for r in good if r[1] is not None]
    return {"wall": wall, "throughput": visitors / wall, "errors": errors,
            "first_p50": setup.percentile(firsts, 50), "first_p99": setup.percentile(firsts, 99),
            "last_p50": setup.percentile(lasts, 50), "last_p99": setup.percentile(lasts, 99)}


async def _timed(session, url):
    return await _visit(session, url, time.monotonic())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--processes", type=int, help="compare N daphne processes with one: scenarios (b), (d), (e)")
    parser.add_argument("--wsgi-server", type=int, help=argparse.SUPPRESS)  # internal: run the WSGI baseline
    args = parser.parse_args()
    if args.wsgi_server:
        return _serve_wsgi(args.wsgi_server)
    global setup
    import bench._setup as setup  # noqa: PLC0415

    if args.processes:
        return _several_processes(args.visitors, args.processes)

    fake_port, daphne_port, wsgi_port = setup.free_port(), setup.free_port(), setup.free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    # Production settings, as deployed (DEBUG off: static files collected, no autoreload checks).
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.weather_baseline_settings", DJANGO_DEBUG="0",
               WEATHER_GEOCODING_URL=f"{fake_url}/v1/search", WEATHER_FORECAST_URL=f"{fake_url}/v1/forecast",
               WEATHER_CACHE_ENABLED="0", WEATHER_RATE_LIMIT="0", WEATHER_MAX_CONCURRENT_UPSTREAM="2000",
               WEATHER_MAX_CITIES="10", DJANGO_LOG_LEVEL="WARNING", PYTHONPATH=str(setup.BASE_DIR),
               # The global upstream budget stays on (its one Redis call per page is measured), set
               # far above what the run asks for.
               WEATHER_UPSTREAM_PER_MINUTE="1000000000", WEATHER_UPSTREAM_PER_HOUR="1000000000",
               WEATHER_UPSTREAM_PER_DAY="1000000000")
    import subprocess  # noqa: PLC0415

    subprocess.run([sys.executable, str(setup.BASE_DIR / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
                   env=env, cwd=setup.BASE_DIR, check=True)  # into bench/_setup's temporary DJANGO_STATIC_ROOT
    processes = [
        _start([sys.executable, "-m", "weather.fake_open_meteo", "--port", str(fake_port)], env, "fake"),
        # An endpoint string, for a listen backlog that holds 500 simultaneous connects (the default is 50).
        _start([str(setup.BIN / "daphne"), "-e", f"tcp:{daphne_port}:interface=127.0.0.1:backlog=2048",
                "site_config.asgi:application"], env, "daphne"),
        _start([sys.executable, __file__, "--wsgi-server", str(wsgi_port)], env, "wsgi"),
    ]
    try:
        daphne, wsgi = f"http://127.0.0.1:{daphne_port}", f"http://127.0.0.1:{wsgi_port}"
        _wait_http(f"{fake_url}/_stats")
        _wait_http(f"{daphne}/weather/")
        _wait_http(f"{wsgi}/weather/")
        run_id = int(time.time())

        def page(base, path="/weather/"):
            return lambda visitor, count: (f"{base}{path}?cities=" + ",".join(
                f"B{run_id}v{visitor}c{i}{path.strip('/').replace('/', '')}" for i in range(count)))

        lines = ["## Weather", ""]
        lines.append(f"`bench/weather_bench.py`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores shared by "
                     "the load generator, daphne, the WSGI server and the fake Open-Meteo; cache off, distinct "
                     "cities, each card = geocoding + forecast call (2 x upstream latency), "
                     "WEATHER_MAX_CONCURRENT_UPSTREAM=2000, production settings (DEBUG off, collectstatic).")
        lines.append("")

        # (a) 10 cities, 500 ms.
        _configure_fake(fake_url, 500)
        asyncio.run(_load(page(daphne), 1, 1))  # warm-up
        single = asyncio.run(_load(page(daphne), 1, 1))
        ten = asyncio.run(_load(page(daphne), 1, 10))
        for label, result in (("(a) one city", single), ("(a) ten cities", ten)):
            setup.require_clean(label, result["errors"], 1)
        lines += ["(a) one visitor, 500 ms upstream latency:", "",
                  "| cities | first card | last card | last / one city |", "| --- | --- | --- | --- |",
                  f"| 1 | {single['first_p50']:.3f} s | {single['last_p50']:.3f} s | 1.00 |",
                  f"| 10 | {ten['first_p50']:.3f} s | {ten['last_p50']:.3f} s | "
                  f"{ten['last_p50'] / single['last_p50']:.2f} (target <= 1.2) |", ""]

        # (b) + (c) 500 visitors x 3 cities, 200 ms.
        _configure_fake(fake_url, 200)
        rows = []
        for label, url_for, server in [("streaming async view (daphne)", page(daphne), processes[1]),
                                       ("async, gather then render (daphne)", page(daphne, "/bench/weather/gather/"),
                                        processes[1]),
                                       ("sync, city by city (threaded WSGI)", page(wsgi, "/bench/weather/sync/"),
                                        processes[2])]:
            asyncio.run(_load(url_for, 5, 3))  # warm-up
            cpu_before = setup.cpu_seconds(server.pid)
            result = asyncio.run(_load(url_for, args.visitors, 3))
            setup.require_clean(label, result["errors"], args.visitors, f"Logs: {setup.WORKDIR}")
            result["cpu_ms"] = (setup.cpu_seconds(server.pid) - cpu_before) * 1000 / args.visitors
            rows.append((label, result))
            print(label, rows[-1], flush=True)
        stream = rows[0][1]
        lines += [f"(b, c) {args.visitors} concurrent visitors x 3 cities, 200 ms upstream latency:", "",
                  "| view | throughput | first card p50 / p99 | last card p50 / p99 | errors | last p99 vs streaming "
                  "| server CPU per visitor |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for label, r in rows:
            lines.append(f"| {label} | {r['throughput']:.0f} visitors/s | {r['first_p50']:.2f} / {r['first_p99']:.2f} s "
                         f"| {r['last_p50']:.2f} / {r['last_p99']:.2f} s | {r['errors']} | "
                         f"{r['last_p99'] / stream['last_p99']:.2f}x | {r['cpu_ms']:.1f} ms |")
        lines.append("")
        print("\n".join(lines))
        return 0
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)


def _production_env(fake_url: str, **extra) -> dict:
    return {**os.environ, "DJANGO_DEBUG": "0", "WEATHER_GEOCODING_URL": f"{fake_url}/v1/search",
            "WEATHER_FORECAST_URL": f"{fake_url}/v1/forecast", "WEATHER_CACHE_ENABLED": "0", "WEATHER_RATE_LIMIT": "0",
            "WEATHER_MAX_CONCURRENT_UPSTREAM": "2000", "WEATHER_MAX_CITIES": "10", "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(setup.BASE_DIR),
            # The global upstream budget stays on (its Redis call per page is part of the cost), set far
            # above what the run asks for: at its default, the run's own calls would be refused.
            "WEATHER_UPSTREAM_PER_MINUTE": "1000000000", "WEATHER_UPSTREAM_PER_HOUR": "1000000000",
            "WEATHER_UPSTREAM_PER_DAY": "1000000000", **extra}


def _start_daphnes(count: int, env: dict, name: str):
    """`count` daphne processes on ports of their own; returns [(process, base URL)]."""
    started = []
    for index in range(count):
        port = setup.free_port()
        # An endpoint string, for a listen backlog that holds 500 simultaneous connects (the default is 50).
        process = _start([str(setup.BIN / "daphne"), "-e", f"tcp:{port}:interface=127.0.0.1:backlog=2048",
                          "site_config.asgi:application"], env, f"{name}.{index + 1}")
        started.append((process, f"http://127.0.0.1:{port}"))
    for _process, url in started:
        _wait_http(f"{url}/healthz")
    return started


def _upstream_calls(fake_url: str) -> int:
    with urllib.request.urlopen(f"{fake_url}/_stats", timeout=30) as response:
        stats = json.load(response)
    return sum(sum(stats.get(endpoint, {}).values()) for endpoint in ("geocoding", "forecast"))


def _measured(load, processes: dict[str, int], visitors: int) -> dict:
    """Run `load()` (a coroutine factory) and the CPU each named process (pid) spent meanwhile."""
    before = {name: setup.cpu_seconds(pid) for name, pid in processes.items()}
    generator_before, machine_before = time.process_time(), setup.machine_busy_seconds()
    result = asyncio.run(load())
    cpu = {name: setup.cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    cpu["load generator"] = time.process_time() - generator_before
    # Everything the machine did meanwhile, ours or not: whether other work took cores from the run.
    cpu["whole machine"] = setup.machine_busy_seconds() - machine_before
    result["cpu"] = {name: {"share": seconds / result["wall"], "ms_per_visitor": seconds * 1000 / visitors}
                     for name, seconds in cpu.items()}
    return result


def _several_processes(visitors: int, count: int) -> int:
    import subprocess  # noqa: PLC0415

    fake_port = setup.free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    cache_off, cache_on = _production_env(fake_url), _production_env(fake_url, WEATHER_CACHE_ENABLED="1")
    subprocess.run([sys.executable, str(setup.BASE_DIR / "manage.py"), "collectstatic", "--noinput", "-v", "0"],
                   env=cache_off, cwd=setup.BASE_DIR, check=True)
    fake = _start([sys.executable, "-m", "weather.fake_open_meteo", "--port", str(fake_port)], cache_off, "fake")
    running = [fake]
    rows = []
    try:
        _wait_http(f"{fake_url}/_stats")
        _configure_fake(fake_url, 200)
        run_id = int(time.time())
        for label, processes, env, popular in [
            ("(b) 1 process, cache off, distinct cities", 1, cache_off, False),
            (f"(d) {count} processes, cache off, distinct cities", count, cache_off, False),
            (f"(e) {count} processes, cache on, 3 popular cities", count, cache_on, True),
        ]:
            daphnes = _start_daphnes(processes, env, f"daphne-{len(rows)}")
            running += [process for process, _url in daphnes]
            bases = [url for _process, url in daphnes]
            tag = f"B{run_id}r{len(rows)}"

            def url_for(visitor, cities, bases=bases, tag=tag, popular=popular):
                names = ["Taipei", "Tokyo", "London"][:cities] if popular else [
                    f"{tag}v{visitor}c{i}" for i in range(cities)]
                return f"{bases[visitor % len(bases)]}/weather/?cities=" + ",".join(names)

            asyncio.run(_load(lambda v, c: url_for(v + 10_000, c), 2 * processes, 3))  # warm-up (and cache)
            pids = {f"daphne.{i + 1}": process.pid for i, (process, _url) in enumerate(daphnes)}
            pids.update({"fake Open-Meteo": fake.pid, "Redis": setup.REDIS.process.pid})
            calls_before = _upstream_calls(fake_url)
            result = _measured(lambda: _load(url_for, visitors, 3), pids, visitors)
            result["upstream_calls"] = _upstream_calls(fake_url) - calls_before
            setup.require_clean(label, result["errors"], visitors, f"Logs: {setup.WORKDIR}")
            rows.append((label, result))
            print(label, json.dumps(result), flush=True)
            for process, _url in daphnes:
                process.terminate()
                process.wait(timeout=15)
    finally:
        for process in running:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=15)
    print(f"\n{visitors} simultaneous visitors x 3 cities, 200 ms upstream latency, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores shared by everything:\n")
    print("| run | throughput | first card p50 / p99 | last card p50 / p99 | errors | upstream calls "
          "| CPU per process (share of one core; ms per visitor) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, r in rows:
        cpu = "; ".join(f"{name} {c['share']:.0%} ({c['ms_per_visitor']:.1f} ms)" for name, c in r["cpu"].items())
        print(f"| {label} | {r['throughput']:.0f} visitors/s | {r['first_p50']:.2f} / {r['first_p99']:.2f} s "
              f"| {r['last_p50']:.2f} / {r['last_p99']:.2f} s | {r['errors']} | {r['upstream_calls']} | {cpu} |")
    return 0


def _serve_wsgi(port: int) -> int:
    """A threaded WSGI server (one thread per connection) serving the site with the baseline URLs."""
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.core.wsgi import get_wsgi_application

    class ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 2048

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", port, get_wsgi_application(), server_class=ThreadedServer,
                         handler_class=QuietHandler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
