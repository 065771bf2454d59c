"""Progress reports through the whole system on PostgreSQL: real Celery worker, real daphne, real
websocket clients, and what each stored report costs the database.

    .venv/bin/python bench/progress_live_bench.py --private-postgres            # 50 tasks, 5 Hz, 300 s
    .venv/bin/python bench/progress_live_bench.py --private-postgres --seconds 20
    .venv/bin/python bench/progress_live_bench.py --private-postgres --tree /work/wt-before
    .venv/bin/python bench/progress_live_bench.py --private-postgres --drop-index dash_tr_status_created
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_progress_live .venv/bin/python bench/progress_live_bench.py

`--tasks` tasks run at once on one Celery worker (prefork, one pool process per task), each reporting
progress `--hz` times a second for `--seconds` seconds through the real API (LiveTask.report_progress:
stored in the result backend, published to the channel layer). One websocket client per task watches
the task's page through one daphne. Each report's message carries the wall-clock time taken just
before report_progress was called and its sequence number, so a client measures report-to-browser
latency (store + publish + channel layer + daphne + socket); see _latencies for reports superseded
by newer ones on the way. The throttle is off (PROGRESS_MIN_INTERVAL_MS=0): a report delayed by a
busy machine would otherwise suppress the next one, and every report is to be stored.

Write-ahead log: pg_current_wal_lsn() and pg_stat_wal.wal_fpi are the cluster's, so the database must
be in a cluster nothing else writes to: `--private-postgres` starts one (initdb, default settings,
this machine's PostgreSQL binaries), otherwise DATABASE_URL names a PostgreSQL database that this
script migrates and empties. Before the tasks are queued: a CHECKPOINT, then 3 s in which the cluster
must write (almost) no WAL. The window counted runs from just before
the tasks are queued to after the worker has stopped (its connections flushed their statistics), so
it includes each task's queued, started and finished writes. HOT share: n_tup_hot_upd / n_tup_upd of
django_celery_results_taskresult over the same window.

CPU: seconds of CPU per process class from the first report to the last task's end: the worker's
main process, its pool, daphne, Redis, PostgreSQL (every process of a private cluster; only this
database's backends on a shared one), and the load generator (client processes and this driver).

`--drop-index NAME` drops an index of the bench's database after migrating: what that index costs
each report. `--tree DIR` runs the worker, daphne and the Django side of the set-up from another checkout (e.g. a
git worktree of an older commit) with this venv; this script's clients and accounting stay the same.

A run fails (exit status 1, no figures) when any report was not stored, any client never saw a
report (nor a newer one) or its task's end, or the worker or daphne logged an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import shared_task

BENCH_DIR = Path(__file__).resolve().parent
TASK_NAME = "bench.progress_live_bench.report_at_rate_task"
STAMP = re.compile(r"t=(\d+\.\d+) seq=(\d+)")
FINAL = re.compile(r'data-state="SUCCESS"')
TABLE = "django_celery_results_taskresult"


# ---------------------------------------------------------------- the task (the worker imports this module)

@shared_task(bind=True, name=TASK_NAME)
def report_at_rate_task(self, steps: int, hz: float, start_at: float) -> dict:
    """Report `steps` times at `hz` from wall-clock `start_at`; a late step is not skipped, only late."""
    sent, stamps = 0, []
    for step in range(1, steps + 1):
        delay = start_at + step / hz - time.time()
        if delay > 0:
            time.sleep(delay)
        stamps.append(time.time())
        if self.report_progress(step, steps, f"t={stamps[-1]:.6f} seq={step}"):
            sent += 1
    # On disk, not in the result: the run's database writes are what it measures.
    (Path(os.environ["PROGRESS_LIVE_STAMPS"]) / f"{self.request.id}.json").write_text(json.dumps(stamps))
    return {"sent": sent, "steps": steps}


# ---------------------------------------------------------------- Django side, run inside --tree

def _helper(args) -> None:
    sys.path.insert(0, os.getcwd())  # the tree: its site_config, not this checkout's
    import django

    django.setup()
    if args.helper == "prepare":
        _prepare(args.filler)
    else:
        from site_config.celery import app  # noqa: F401  (the app the task binds to)

        task = report_at_rate_task
        ids = [task.apply_async((args.steps, args.hz, args.start_at)).id for _ in range(args.tasks)]
        print(json.dumps(ids), flush=True)


def _prepare(filler: int) -> None:
    """Empty the task table, add `filler` finished rows (indexes of a realistic size), log in a
    staff user; prints the session cookie."""
    import uuid

    from celery import states
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    TaskResult.objects.all().delete()
    now = timezone.now()
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=str(uuid.uuid4()), task_name=TASK_NAME, status=states.SUCCESS, date_done=now,
                    content_type="application/json", content_encoding="utf-8") for _ in range(filler)],
        batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print(json.dumps({"cookie": f"sessionid={session.session_key}"}), flush=True)


# ---------------------------------------------------------------- websocket clients (a separate process)

async def _watch(url: str, headers: dict, deadline: float, settled, out: dict) -> None:
    import websockets
    from _ws import frames_until

    received = out["received"]
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=60, max_queue=None) as ws:
            await asyncio.wait_for(ws.recv(), timeout=60)  # snapshot
            settled()
            async for now, message in frames_until(ws, deadline):
                for _stamp, seq in STAMP.findall(message):
                    received.setdefault(int(seq), now)
                if FINAL.search(message):
                    out["final"] = now
                    break
    except Exception as error:  # noqa: BLE001  (counted: the run fails)
        out["error"] = repr(error)
        settled()


async def _run_clients(spec: dict) -> None:
    headers = {"Cookie": spec["cookie"], "Origin": spec["origin"]}
    outs = {task_id: {"received": {}, "final": None, "error": None} for task_id in spec["task_ids"]}
    settled_count = 0

    def settled() -> None:  # connected and given the snapshot, or failed
        nonlocal settled_count
        settled_count += 1
        if settled_count == len(outs):
            print(f"READY {_own_cpu():.3f}", flush=True)

    jobs = []
    for task_id, out in outs.items():
        jobs.append(asyncio.create_task(_watch(f"{spec['ws_url']}/ws/tasks/{task_id}/", headers, spec["deadline"],
                                               settled, out)))
        if len(jobs) % 25 == 0:  # in waves: each handshake reads the session from the database
            while settled_count < len(jobs):
                await asyncio.sleep(0.01)
    await asyncio.gather(*jobs)
    errors = [out["error"] for out in outs.values() if out["error"]]
    print("RESULT " + json.dumps({"cpu": _own_cpu(), "errors": errors, "tasks": {
        task_id: {"received": out["received"], "final": out["final"]}
        for task_id, out in outs.items()}}), flush=True)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


# ---------------------------------------------------------------- processes and their CPU

def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def _cpu(pid: int, *, descendants: bool = True) -> float:
    """CPU seconds of a process, plus (by default) of its live descendants and the exited children
    it reaped."""
    try:
        fields = _stat_fields(pid)
        total = int(fields[11]) + int(fields[12])
        if descendants:
            total += int(fields[13]) + int(fields[14])
        total /= os.sysconf("SC_CLK_TCK")
        if descendants:
            total += sum(_cpu(child) for child in _children(pid))
        return total
    except FileNotFoundError:
        return 0.0


class PrivatePostgres:
    """A PostgreSQL cluster of its own (default settings) on a free port, so the write-ahead log
    counted is this run's alone."""

    def __init__(self) -> None:
        from site_config.devtools.local_redis import free_port

        initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
        if initdb is None:
            sys.exit("--private-postgres: no initdb found")
        self.bin = Path(initdb).resolve().parent
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/bench_progress_live"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, stdout=subprocess.DEVNULL, cwd=self.dir)

    def start(self) -> PrivatePostgres:
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}", "start")
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        try:
            import psycopg

            with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as admin:
                admin.execute("CREATE DATABASE bench_progress_live")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- driver (this process)

class Database:
    """The driver's own connection: WAL position, statistics, checks."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True)

    def one(self, sql: str, params=()):
        return self.connection.execute(sql, params).fetchone()

    def stats(self) -> dict:
        self.one("SELECT pg_stat_force_next_flush()")
        time.sleep(1.5)  # other backends flush theirs at most every second
        lsn, fpi = self.one("SELECT pg_current_wal_lsn(), wal_fpi FROM pg_stat_wal")
        updates, hot = self.one(f"SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = '{TABLE}'")
        timed, requested = self.one("SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter")
        return {"lsn": lsn, "fpi": int(fpi), "updates": updates, "hot": hot, "checkpoints": timed + requested}

    def wal_between(self, start, end) -> int:
        return int(self.one("SELECT pg_wal_lsn_diff(%s, %s)", (end, start))[0])

    def quiet_wal(self, seconds: float = 3.0) -> int:
        """WAL bytes the cluster writes in `seconds` while this run does nothing."""
        start = self.one("SELECT pg_current_wal_lsn()")[0]
        time.sleep(seconds)
        return self.wal_between(start, self.one("SELECT pg_current_wal_lsn()")[0])

    def backend_pids(self) -> list[int]:
        rows = self.connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND pid <> pg_backend_pid()").fetchall()
        return [pid for (pid,) in rows]


def _start(name: str, command: list[str], tree: Path, env: dict, logs: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=tree, env=env, stdout=open(logs / f"{name}.log", "wb"),
                            stderr=subprocess.STDOUT)


def _wait_for_log(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name}: no {text!r} within {timeout:.0f} s")
        time.sleep(0.5)


def _log_errors(path: Path) -> list[str]:
    lines = path.read_text(errors="replace").splitlines()
    return [line for line in lines if "Traceback" in line or " ERROR" in line or "ERROR/" in line
            or "could not publish" in line or "WARNING" in line and "Lost" in line]


def _cpu_snapshot(processes: dict, db: Database, postgres: PrivatePostgres | None) -> dict:
    worker = processes["worker"].pid
    snapshot = {"worker main": _cpu(worker, descendants=False), "worker pool": _cpu(worker) - _cpu(worker, descendants=False),
                "daphne": _cpu(processes["daphne"].pid), "Redis": _cpu(processes["redis"]),
                "load generator": _own_cpu()}
    if postgres:
        snapshot["PostgreSQL (all processes)"] = _cpu(postgres.pid)
    else:
        snapshot["pg_backends"] = {pid: _cpu(pid, descendants=False) for pid in db.backend_pids()}
    return snapshot


def _cpu_used(before: dict, after: dict) -> dict:
    used = {name: after[name] - before[name] for name in after if name != "pg_backends"}
    if "pg_backends" in after:
        used["PostgreSQL (this database's backends)"] = sum(
            cpu - before["pg_backends"].get(pid, 0.0) for pid, cpu in after["pg_backends"].items())
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--hz", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--tree", type=Path, default=BENCH_DIR.parent, help="checkout the site runs from")
    parser.add_argument("--private-postgres", action="store_true", help="run a PostgreSQL cluster of its own")
    parser.add_argument("--filler", type=int, default=20_000, help="finished task rows in the table")
    parser.add_argument("--lead", type=float, default=40.0, help="seconds from queueing to the first report")
    parser.add_argument("--drop-index", action="append", default=[], metavar="NAME",
                        help="drop this index of the bench database after migrating (to measure what it costs)")
    parser.add_argument("--clients")
    parser.add_argument("--helper", choices=("prepare", "launch"))
    parser.add_argument("--steps", type=int)
    parser.add_argument("--start-at", type=float)
    args = parser.parse_args()
    if args.clients:
        asyncio.run(_run_clients(json.loads(args.clients)))
    elif args.helper:
        _helper(args)
    else:
        _bench(args)


def _bench(args) -> None:
    tree = args.tree.resolve()
    postgres = None
    if args.private_postgres:
        sys.path.insert(0, str(BENCH_DIR.parent))
        postgres = PrivatePostgres().start()
        os.environ["DATABASE_URL"] = postgres.url
    elif not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and its task table emptied), "
                 "or pass --private-postgres.")
    os.environ["PROGRESS_MIN_INTERVAL_MS"] = "0"
    import _setup

    processes: dict = {"redis": _setup.REDIS.process.pid}
    try:
        _run(args, tree, postgres, processes)
    finally:
        for name in ("worker", "daphne"):
            if name in processes and processes[name].poll() is None:
                processes[name].terminate()
                try:
                    processes[name].wait(60)
                except subprocess.TimeoutExpired:
                    processes[name].kill()
        if postgres:
            postgres.stop()


def _run(args, tree: Path, postgres, processes: dict) -> None:
    from _setup import BIN, WORKDIR, free_port, percentile, require_clean, wait_for_port

    logs = WORKDIR / "logs"
    logs.mkdir()
    port = free_port()
    (WORKDIR / "stamps").mkdir()
    env = {**os.environ, "PROGRESS_LIVE_STAMPS": str(WORKDIR / "stamps"), "PYTHONPATH": f"{tree}{os.pathsep}{BENCH_DIR}",
           "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}", "PORT": str(port),
           # One staff account watches every task page: let it hold them all open.
           "LIVE_CONNECTIONS_PER_ACCOUNT": str(2 * args.tasks)}
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, str(tree / "manage.py"), *command], check=True, cwd=tree, env=env)
    me = str(Path(__file__).resolve())
    for index in args.drop_index:
        with Database(os.environ["DATABASE_URL"]).connection as connection:
            connection.execute(f'DROP INDEX "{index}"')
    prepared = json.loads(subprocess.run([sys.executable, me, "--helper", "prepare", "--filler", str(args.filler)],
                                         check=True, cwd=tree, env=env, capture_output=True, text=True).stdout)
    processes["daphne"] = _start("daphne", [str(BIN / "daphne"), "--bind", "127.0.0.1", "--port", str(port),
                                            "site_config.asgi:application"], tree, env, logs)
    processes["worker"] = _start("worker", [str(BIN / "celery"), "--app", "site_config", "worker", "--loglevel",
                                            "INFO", "--pool", "prefork", "--concurrency", str(args.tasks),
                                            "--hostname", "bench@%h", "--include", "progress_live_bench"],
                                 tree, env, logs)
    wait_for_port(port)
    _wait_for_log(logs / "worker.log", "ready.", 300)
    time.sleep(3)  # the pool's processes finish starting

    db = Database(os.environ["DATABASE_URL"])
    version = db.one("SHOW server_version")[0]
    db.connection.execute("CHECKPOINT")
    quiet_before = db.quiet_wal()
    before = db.stats()
    load_before = Path("/proc/loadavg").read_text().split()[:3]

    steps = round(args.hz * args.seconds)
    start_at = time.time() + args.lead
    task_ids = json.loads(subprocess.run(
        [sys.executable, me, "--helper", "launch", "--tasks", str(args.tasks), "--steps", str(steps),
         "--hz", str(args.hz), "--start-at", str(start_at)],
        check=True, cwd=tree, env=env, capture_output=True, text=True).stdout)
    spec = {"ws_url": f"ws://127.0.0.1:{port}", "origin": f"http://127.0.0.1:{port}", "cookie": prepared["cookie"],
            "task_ids": task_ids, "deadline": start_at + 2 * args.seconds + 120}
    clients = subprocess.Popen([sys.executable, me, "--clients", json.dumps(spec)], stdout=subprocess.PIPE, text=True)
    if not select.select([clients.stdout], [], [], args.lead + 60)[0]:
        raise RuntimeError("the client process did not connect its watchers")
    line = clients.stdout.readline()
    if not line.startswith("READY"):
        raise RuntimeError(f"client process failed: {line!r}")
    if time.time() > start_at:
        raise RuntimeError(f"the clients connected {time.time() - start_at:.1f} s after the first report: raise --lead")

    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = _cpu_snapshot(processes, db, postgres)
    clients_before = _cpu(clients.pid, descendants=False)
    deadline = start_at + 2 * args.seconds + 120
    while True:
        done = db.one(f"SELECT count(*) FROM {TABLE} WHERE task_id = ANY(%s) AND status IN ('SUCCESS', 'FAILURE')",
                      (task_ids,))[0]
        if done == len(task_ids) or time.time() > deadline:
            break
        time.sleep(0.25)
    ended = time.time()
    cpu_after = _cpu_snapshot(processes, db, postgres)
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    out, _ = clients.communicate(timeout=180)
    watched = next(json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT "))
    processes["worker"].send_signal(signal.SIGTERM)  # warm shutdown: its connections close, statistics flushed
    processes["worker"].wait(120)
    after = db.stats()

    rows = dict(db.connection.execute(f"SELECT task_id, result FROM {TABLE} WHERE task_id = ANY(%s) "
                                      "AND status = 'SUCCESS'", (task_ids,)).fetchall())
    stored = sum(json.loads(result)["sent"] for result in rows.values())
    expected = steps * len(task_ids)
    latencies, superseded, missed = _latencies(watched["tasks"], WORKDIR / "stamps", steps)
    unfinished = sum(not task["final"] for task in watched["tasks"].values())
    log_errors = _log_errors(logs / "worker.log") + _log_errors(logs / "daphne.log")
    quiet_limit = 64 * 1024
    problems = ((expected - stored) + missed + unfinished + len(watched["errors"]) + len(log_errors)
                + (quiet_before > quiet_limit))
    require_clean("progress_live_bench", problems, expected + len(task_ids),
                  f"{stored} of {expected} reports stored, {len(rows)} of {len(task_ids)} tasks succeeded; clients "
                  f"missed {missed} reports and {unfinished} task ends; client errors {watched['errors'][:3]}; "
                  f"log errors {log_errors[:3]}; WAL written by others in 3 s idle before the run: "
                  f"{quiet_before} B (limit {quiet_limit}). Logs: {logs}")

    elapsed = ended - start_at
    cpu = _cpu_used(cpu_before, cpu_after)
    cpu["load generator"] += watched["cpu"] - clients_before  # the clients' own count: they may have exited
    updates = after["updates"] - before["updates"]
    wal = db.wal_between(before["lsn"], after["lsn"])
    figures = {
        "tree": str(tree), "dropped_indexes": args.drop_index, "postgresql": version, "cluster": "private" if postgres else "shared",
        "tasks": len(task_ids), "hz": args.hz, "seconds": args.seconds, "reports": stored,
        "elapsed_s": round(elapsed, 1), "reports_per_s": round(stored / elapsed, 1),
        "wal_bytes_per_report": round(wal / stored, 1), "fpi_per_report": round((after["fpi"] - before["fpi"]) / stored, 4),
        "hot_share": round((after["hot"] - before["hot"]) / updates, 4) if updates else 0.0, "updates": updates,
        "superseded": superseded, "checkpoints_during_run": after["checkpoints"] - before["checkpoints"],
        "latency_ms": {"p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1),
                       "p99": round(percentile(latencies, 99), 1), "max": round(max(latencies), 1)},
        "cpu_seconds": {name: round(value, 1) for name, value in cpu.items()},
        "loadavg_start": load_before, "loadavg_end": load_after,
    }
    print(json.dumps(figures), flush=True)
    _print(figures)


def _latencies(tasks: dict, stamps_dir: Path, steps: int) -> tuple[list[float], int, int]:
    """Report-to-browser time of every report: from just before report_progress to the first
    message that showed the page this report or a newer one. The publisher and daphne's fan-out
    replace a waiting update of a task by a newer one (each is a full snapshot), so a report can be
    superseded rather than shown; it is lost only if nothing as new ever arrived. Returns
    (latencies in ms, superseded reports, lost reports)."""
    latencies, superseded, lost = [], 0, 0
    for task_id, task in tasks.items():
        path = stamps_dir / f"{task_id}.json"
        if not path.exists():
            lost += steps
            continue
        stamps = json.loads(path.read_text())
        received = {int(seq): at for seq, at in task["received"].items()}
        superseded += steps - len(received)
        shown_by = task["final"] or float("inf")  # the final state is newer than every report
        for seq in range(steps, 0, -1):
            shown_by = min(shown_by, received.get(seq, float("inf")))
            if shown_by == float("inf"):
                lost += 1
            else:
                latencies.append((shown_by - stamps[seq - 1]) * 1000)
    return latencies, superseded, lost


def _print(f: dict) -> None:
    lat = f["latency_ms"]
    print(f"\n{f['tasks']} tasks x {f['hz']:g} Hz x {f['seconds']:g} s, tree {f['tree']}, PostgreSQL {f['postgresql']} "
          f"({f['cluster']} cluster{', indexes dropped: ' + ', '.join(f['dropped_indexes']) if f['dropped_indexes'] else ''}); "
          f"load average {' '.join(f['loadavg_start'])} at start, "
          f"{' '.join(f['loadavg_end'])} at end")
    print(f"reports stored: {f['reports']} in {f['elapsed_s']} s = {f['reports_per_s']}/s")
    print(f"WAL per report: {f['wal_bytes_per_report']:.0f} B, full-page images per report: {f['fpi_per_report']:.4f} "
          f"({f['checkpoints_during_run']} checkpoints during the run)")
    print(f"HOT updates: {f['hot_share']:.1%} of {f['updates']} updates of {TABLE}")
    print(f"report-to-browser: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, "
          f"max {lat['max']:.1f} ms; {f['superseded']} reports superseded by a newer one before they were shown")
    print(f"CPU over the {f['elapsed_s']} s (seconds, and share of one core):")
    for name, seconds in f["cpu_seconds"].items():
        print(f"  {name:38} {seconds:7.1f} s  {seconds / f['elapsed_s']:6.1%}")


if __name__ == "__main__":
    main()
