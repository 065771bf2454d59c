"""Instructions per delivered live message, counted by valgrind (callgrind), for the three parts of the
live path: the publish (worker side), the fan-out (daphne side) and the websocket send (daphne side).
Counted instructions do not depend on what else the machine is doing, unlike wall-clock time.

    .venv/bin/python bench/live_instructions.py            # this checkout
    .venv/bin/python bench/live_instructions.py --tree DIR # another checkout (e.g. a git worktree
                                                             of an older commit), same venv

Each part is a loop run twice under callgrind, with N and 2N messages; (I(2N) - I(N)) / N is the
cost of one message, start-up and set-up cancel. Every part calls the checkout's own code:

- publish: `publish_view(view)` for a task at step i (view.with_progress, as report_progress does),
  then `publisher.flush()`, so each update is rendered and handed to Redis (PUBLISH) before the next:
  nothing is coalesced. One update is two messages (the task's page and the task list).
- fan-out: the process's fan-out subscribed to one task page's group with 1,000 members that only
  count what they get; a second process (not counted) publishes N messages through the checkout's
  publisher (no key, so none is coalesced). Counted: the channel layer's receive, the hand-out to
  1,000 members and whatever the fan-out records per message.
- send: daphne's own Server in this process (its Twisted protocol, the checkout's site_config.asgi
  application with every middleware) and one real websocket on a task page, opened by a client
  process (not counted) that reads every frame. The loop hands a task update to that consumer's
  `deliver()`: the consumer's checks and handler, the ASGI send through the middleware, daphne's
  handle_reply, autobahn's frame and Twisted's write to the socket.

Per delivered message at W watchers in one daphne process: fan-out + W x send.

Logging stays at the production default (INFO), so the access-log layer's websocket `send` wrapper is
in place as in production. Needs Redis: REDIS_URL, or a private one is started (bench/_setup.py). Each
checkout gets its own migrated SQLite database, a staff user with a session and a task row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("DJANGO_LOG_LEVEL", "INFO")  # the production default (bench/_setup.py says WARNING)
import _setup  # noqa: E402  (private Redis, production-like settings)

# The checkouts differ in where the live modules live; each snippet takes whichever exists.
COMMON = r"""
import asyncio, json, os, sys, time
sys.path.insert(0, os.environ["TREE"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
N = int(os.environ.get("MESSAGES", 0))
TASK_ID = os.environ.get("TASK_ID", "")

def live_modules():
    try:
        from dashboard.live import publisher as publisher_module, fanout as fanout_module, publish as publish_module
        from dashboard.live.contract import localized, stamp
        from django.conf import settings
        return dict(publisher=publisher_module.publisher, fanout=fanout_module.fanout,
                    publish_view=publish_module.publish_view,
                    page_group=lambda group: localized(group, settings.LANGUAGE_CODE),
                    stamp=stamp)
    except ImportError:
        from site_config import publisher as publisher_module, fanout as fanout_module
        from dashboard.live.signals import publish_view
        return dict(publisher=publisher_module.publisher, fanout=fanout_module.fanout, publish_view=publish_view,
                    page_group=lambda group: group,
                    # The publisher's own stamp, written inline in this checkout's Publisher.publish.
                    stamp=lambda message, *, group, key: {**message, "group": group,
                                                          "key": repr(key) if key is not None else None})
"""

PREPARE = COMMON + r"""
import django
django.setup()
from celery import uuid
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from dashboard.live.store import record_queued
user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True, "is_superuser": True})
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
task_id = uuid()
record_queued(task_id=task_id, task_name="bench.progress", argsrepr="()", kwargsrepr="{}",
              periodic_task_name=None, launched_by=None)
print(json.dumps({"cookie": f"sessionid={session.session_key}", "task_id": task_id}))
"""

PUBLISH = COMMON + r"""
import django
django.setup()
from dashboard.live.store import load_view
live = live_modules()
publish_view, publisher = live["publish_view"], live["publisher"]
view = load_view(TASK_ID)
for i in range(1, N + 1):
    view = view.with_progress(i, N + 1, "looping")
    publish_view(view)
    assert publisher.flush(30), "the publisher did not hand the update to Redis"
"""

# A process that is not counted: publishes N task-page messages for the fan-out to receive.
SENDER = COMMON + r"""
import django
django.setup()
from dashboard.live.fragments import task_messages
from dashboard.live.store import load_view
live = live_modules()
(group, message), *_ = task_messages(load_view(TASK_ID))
for _ in range(N):
    live["publisher"].publish(live["page_group"](group), message)  # no key: every message is delivered
assert live["publisher"].flush(60)
"""

FANOUT = COMMON + r"""
import django
django.setup()
from dashboard.live.fragments import task_group
live = live_modules()
WATCHERS = int(os.environ["WATCHERS"])

DELIVERIES = N * WATCHERS
received = 0
all_received = asyncio.Event()

class Member:
    # Stands in for a consumer: counts what the fan-out hands it, in a module global (a class
    # attribute changed per call would reset the class's method cache each time and be counted).
    async def deliver(self, message):
        global received
        received += 1
        if received == DELIVERIES:
            all_received.set()
    async def live_changed(self, live):
        pass

async def main():
    hub = live["fanout"]()
    group = live["page_group"](task_group(TASK_ID))
    for _ in range(WATCHERS):
        await hub.join(group, Member())
    # Subscribed (and, where the fan-out probes its subscription, the probe came back).
    while hub.channel is None or group not in getattr(hub, "_subscribed", {group}) or getattr(hub, "live", True) is not True:
        await asyncio.sleep(0.05)
    # Waited for without polling: a poll per interval would count in proportion to the run's length.
    sender = await asyncio.create_subprocess_exec(sys.executable, "-c", os.environ["SENDER"])
    assert await sender.wait() == 0, "the sender failed"
    try:
        await asyncio.wait_for(all_received.wait(), timeout=1800)
    except TimeoutError:
        pass
    assert received == DELIVERIES, f"{received} deliveries of {DELIVERIES}"

asyncio.run(main())
"""

# A process that is not counted: one websocket on the task page, reading every frame.
CLIENT = r"""
import asyncio, os, sys
import websockets

async def main():
    headers = {"Cookie": os.environ["COOKIE"], "Origin": os.environ["ORIGIN"]}
    url = f"ws://127.0.0.1:{os.environ['PORT']}/ws/tasks/{os.environ['TASK_ID']}/"
    async with websockets.connect(url, additional_headers=headers, open_timeout=600, max_queue=None) as ws:
        await ws.recv()  # the snapshot
        for _ in range(int(os.environ["MESSAGES"])):
            frame = await asyncio.wait_for(ws.recv(), timeout=600)
            if "data-state" not in frame:
                sys.exit(f"not a task update: {frame[:200]!r}")

asyncio.run(main())
"""

SEND = COMMON + r"""
import daphne.server  # first: installs the asyncio reactor daphne runs on
import django
django.setup()
from twisted.internet import reactor
from dashboard.live.fragments import task_group, task_messages
from dashboard.live.store import load_view
from site_config.asgi import application
live = live_modules()
outcome = {}
(page, message), *_ = task_messages(load_view(TASK_ID))
message = live["stamp"](message, group=live["page_group"](page), key=("task", TASK_ID))

async def drive():
    try:
        client = await asyncio.create_subprocess_exec(sys.executable, "-c", os.environ["CLIENT"])
        hub = live["fanout"]()
        group = live["page_group"](task_group(TASK_ID))
        while not [member for member in hub.members.get(group, ()) if getattr(member, "_ready", False)]:
            if client.returncode is not None:
                raise RuntimeError("the client left before its socket was open")
            await asyncio.sleep(0.5)
        consumer = next(iter(hub.members[group]))
        for _ in range(N):
            await consumer.deliver(message)
            await asyncio.sleep(0)  # let the reactor write the frame
        outcome["client"] = await client.wait()  # it reads every frame, then leaves
    except BaseException as error:
        outcome["error"] = repr(error)
    finally:
        reactor.stop()

server = daphne.server.Server(application=application, endpoints=[f"tcp:port={os.environ['PORT']}:interface=127.0.0.1"],
                              signal_handlers=False)
reactor.callWhenRunning(lambda: asyncio.ensure_future(drive()))
server.run()
assert outcome == {"client": 0}, outcome
"""

PARTS = {"publish": PUBLISH, "fanout": FANOUT, "send": SEND}


def tree_env(tree: Path, work: Path) -> dict:
    """Settings for one checkout: its own database and static files, production-like otherwise."""
    port = _setup.free_port()
    return {**os.environ, "TREE": str(tree), "PYTHONHASHSEED": "0",
            "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "DJANGO_VAR_DIR": str(work / "var"),
            "DJANGO_STATIC_ROOT": str(work / "static"), "PORT": str(port), "ORIGIN": f"http://127.0.0.1:{port}",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
            # Work that runs on a clock, not per message, would be counted in proportion to how long
            # a run takes (which depends on the machine's load): the fan-out's probe rounds and the
            # metrics flushes happen once at start instead of every few seconds. Under valgrind a
            # probe also takes longer than the default 3 s to come back.
            "LIVE_PROBE_INTERVAL": "3600", "LIVE_PROBE_TIMEOUT": "120", "METRICS_FLUSH_SECONDS": "3600"}


def prepare(tree: Path, env: dict) -> dict:
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], check=True, cwd=tree, env=env)
    out = subprocess.run([sys.executable, "-c", PREPARE], cwd=tree, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"preparing {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def instructions(part: str, messages: int, env: dict, keep: Path | None) -> int:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "callgrind.out"
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c",
                              PARTS[part]], env={**env, "MESSAGES": str(messages)}, cwd=env["TREE"],
                             capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"{part} with {messages} messages failed:\n{run.stderr[-3000:]}")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"callgrind.{part}.{messages}").write_bytes(out.read_bytes())
        return int(re.search(r"^summary:\s+(\d+)", out.read_text(), re.M).group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--parts", default="publish,fanout,send", help="comma-separated (default: %(default)s)")
    parser.add_argument("--publish", type=int, default=200, help="N updates for the publish (default: %(default)s)")
    parser.add_argument("--fanout", type=int, default=100, help="N messages for the fan-out (default: %(default)s)")
    parser.add_argument("--send", type=int, default=2000, help="N frames for the send (default: %(default)s)")
    parser.add_argument("--watchers", type=int, default=1000, help="fan-out members (default: %(default)s)")
    parser.add_argument("--keep", type=Path, help="keep the callgrind files here (for callgrind_annotate)")
    args = parser.parse_args()
    tree = args.tree.resolve()
    work = Path(tempfile.mkdtemp(prefix="live-instructions-", dir=_setup.WORKDIR))
    env = tree_env(tree, work)
    env.update({key.upper(): value for key, value in prepare(tree, env).items()})
    env.update(SENDER=SENDER, CLIENT=CLIENT, WATCHERS=str(args.watchers))
    rows = []
    for part in args.parts.split(","):
        count = getattr(args, part)
        single = instructions(part, count, env, args.keep)
        double = instructions(part, 2 * count, env, args.keep)
        rows.append((part, count, single, double, (double - single) / count))
    label = {"publish": "publish (one update: render, 2 messages to Redis)",
             "fanout": f"fan-out (one message to {args.watchers:,} members)",
             "send": "websocket send (one frame, one consumer)"}
    print(f"\n{tree}\n")
    print("| part | N | I(N) | I(2N) | instructions per message |")
    print("|---|---|---|---|---|")
    for part, count, single, double, per in rows:
        print(f"| {label[part]} | {count:,} | {single:,} | {double:,} | {per:,.0f} |")


if __name__ == "__main__":
    main()
