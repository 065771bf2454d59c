"""Run every benchmark in bench/ one after another and print their figures (`make bench`).

Each script can also be run alone; see its docstring for its options (ROWS=..., --quick, ...).
Set QUICK=1 for shorter runs (fewer rows, shorter durations): the figures in docs/benchmarks.md
come from the full runs.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = os.environ.get("QUICK") == "1"

RUNS = [
    ("live progress", ["live_progress.py", *(["--quick"] if QUICK else [])], {}),
    ("task monitor", ["task_monitor_bench.py"], {"ROWS": "100000"} if QUICK else {}),
    ("task-result clean-up", ["cleanup_bench.py"], {"ROWS": "100000"} if QUICK else {}),
    ("moderation queue", ["moderation_bench.py"], {}),
    ("post images (24 MP photo)", ["post_images.py"], {"RUNS": "1"} if QUICK else {}),
    ("export downloads, one slow reader", ["export_downloads.py"], {"ROWS": "100000"} if QUICK else {}),
    ("weather streaming", ["weather_bench.py"], {}),
    ("live progress, several web processes", ["live_progress.py", "--only", "4", *(["--quick"] if QUICK else [])], {}),
    ("weather, several web processes", ["weather_bench.py", "--processes", "2"], {}),
]


def main() -> int:
    failed = []
    for title, args, env in RUNS:
        print(f"\n==== {title}: {' '.join(args)} ====", flush=True)
        result = subprocess.run([sys.executable, *args], cwd=HERE, env={**os.environ, **env})
        if result.returncode:
            failed.append(title)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
