"""Instructions per suppressed report_progress() call, counted by valgrind (callgrind), so the figure
does not depend on what else the machine is doing (wall-clock pairs on a shared 2-core machine swing
by a factor of two; instruction counts repeat to a few parts per million).

    .venv/bin/python bench/progress_instructions.py            # this checkout
    .venv/bin/python bench/progress_instructions.py --tree DIR # another checkout (e.g. a git worktree
                                                                 of an older commit), same venv

It runs the same loop twice under callgrind, with N and 2N calls, and reports (I(2N) - I(N)) / N:
the fixed costs (start-up, the first and final reports that go out) cancel. The throttle interval is
set far out so every call in the loop is a suppressed one: the hot path the cancel check must not
slow down. Needs Redis (the first report stores and publishes): REDIS_URL, or a private one is started.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LOOP = r"""
import os, sys
sys.path.insert(0, os.environ["TREE"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
import django
django.setup()
from django.conf import settings
settings.PROGRESS_MIN_INTERVAL_MS = 10**9
from dashboard.tasks import demo_job_task
task = demo_job_task._get_current_object()  # any LiveTask: the loop below calls report_progress itself
n = int(os.environ["CALLS"])
task.push_request(id="bench-instructions", called_directly=True)
task.progress_begin()
report = task.report_progress
for i in range(1, n):
    report(i, n, "looping")
task.pop_request()
"""


def instructions(tree: Path, calls: int, env: dict) -> int:
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "callgrind.out"
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", LOOP],
                       env={**env, "TREE": str(tree), "CALLS": str(calls), "PYTHONHASHSEED": "0"}, check=True,
                       capture_output=True, cwd=tree)
        summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
        return int(summary.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    env = dict(os.environ, DJANGO_DEBUG=os.environ.get("DJANGO_DEBUG", "1"))
    private = None
    if "REDIS_URL" not in env:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from site_config.devtools.local_redis import PrivateRedis

        private = PrivateRedis(Path(tempfile.mkdtemp(prefix="bench-redis-"))).start()
        env["REDIS_URL"] = private.url
    try:
        single = instructions(args.tree, args.calls, env)
        double = instructions(args.tree, 2 * args.calls, env)
    finally:
        if private:
            private.stop()
    per_call = (double - single) / args.calls
    print(f"{args.tree}: {per_call:.0f} instructions per suppressed report_progress call "
          f"({args.calls} and {2 * args.calls} calls: {single} and {double} instructions)")


if __name__ == "__main__":
    main()
