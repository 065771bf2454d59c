"""A small process supervisor for `make run`: the Procfile's processes, kept up, stopped gently.

Why not honcho here (the Procfile still works with honcho or any process manager in production):
honcho stops every process as soon as one exits, so a worker crash took the whole local site with
it; and Ctrl-C reached every process of the group at once, so Celery's pool children got SIGINT
directly and a running job died mid-step instead of finishing.

- Each process runs in its own session (so the terminal's Ctrl-C reaches only this supervisor) as
  `sh -c "exec <command>"`: the Procfile line's variables are expanded, and the pid we hold is the
  program itself, which alone gets our signals. A compound line (`a && b`, `if ...`) runs without
  `exec`, and its whole process group gets them.
- A process that exits on its own is started again after a back-off (1 s, doubling, at most 30 s).
  After MAX_CRASHES exits within CRASH_WINDOW seconds, everything is stopped and the reason is
  printed (the process's last lines).
- Ctrl-C (or SIGTERM) signals each main pid only: SIGINT to a worker, SIGTERM to the others. The
  Procfile's worker remaps SIGTERM to a cold shutdown (the platforms' stop, docs/operations.md);
  SIGINT stays Celery's warm shutdown: it takes no new task and lets the running ones finish. A
  second Ctrl-C asks the worker for a cold shutdown (SIGQUIT), which still gives running tasks
  CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT seconds and hands unfinished late-acknowledged tasks back to
  the broker. Whatever is still running after STOP_TIMEOUT seconds is killed.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MAX_CRASHES = 5
CRASH_WINDOW = 60.0
BACKOFF_START = float(os.environ.get("SUPERVISOR_BACKOFF_START", "1.0"))  # tests make it short
BACKOFF_MAX = 30.0
STOP_TIMEOUT = float(os.environ.get("SUPERVISOR_STOP_TIMEOUT", "90"))
COLOURS = ["36", "33", "35", "32", "34", "31"]


def procfile_entries(path: Path) -> dict[str, str]:
    """`name: command` lines of a Procfile, in order (comments and blank lines skipped)."""
    entries = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match and not line.lstrip().startswith("#"):
            entries[match.group(1)] = match.group(2)
    return entries


COMPOUND = re.compile(r"^\s*(if|for|while|until|case|\{|\()\s|&&|\|\||;")


@dataclass
class Supervised:
    name: str
    command: str
    colour: str

    @property
    def simple(self) -> bool:
        return not COMPOUND.search(self.command)

    def signal(self, signum: int) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        if self.simple:
            self.popen.send_signal(signum)
        else:
            os.killpg(self.popen.pid, signum)
    popen: subprocess.Popen | None = None
    crashes: collections.deque = field(default_factory=collections.deque)
    backoff: float = BACKOFF_START
    restart_at: float | None = None
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=30))


class Supervisor:
    def __init__(self, entries: dict[str, str], *, env: dict[str, str], cwd: Path, out=None) -> None:
        self.env, self.cwd = env, cwd
        self.out = out or sys.stdout
        self.processes = [Supervised(f"{name}.1", command, COLOURS[i % len(COLOURS)])
                          for i, (name, command) in enumerate(entries.items())]
        self.stopping = False
        self.interrupts = 0
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._width = max((len(p.name) for p in self.processes), default=6)

    # --- output ---

    def say(self, name: str, text: str, colour: str = "0") -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self.out.write(f"\033[{colour}m{stamp} {name:<{self._width}} |\033[0m {text}\n")
            self.out.flush()

    def _pump(self, process: Supervised, popen: subprocess.Popen) -> None:
        for raw in popen.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            process.tail.append(line)
            self.say(process.name, line, process.colour)

    # --- running ---

    def start(self, process: Supervised) -> None:
        process.popen = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {process.command}" if process.simple else process.command],
            # Named as honcho names them: the Procfile's worker line takes its node name from it.
            env={**self.env, "HONCHO_PROCESS_NAME": process.name}, cwd=self.cwd,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        process.restart_at = None
        threading.Thread(target=self._pump, args=(process, process.popen), daemon=True).start()
        self.say("system", f"{process.name} started (pid {process.popen.pid})")

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for process in self.processes:
                self.start(process)
            while not self.stopping:
                self._watch_once()
                time.sleep(0.2)
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _watch_once(self) -> None:
        now = time.monotonic()
        for process in self.processes:
            if process.restart_at is not None:
                if now >= process.restart_at:
                    self.start(process)
                continue
            code = process.popen.poll() if process.popen else None
            if code is None:
                if process.crashes and now - process.crashes[-1] > CRASH_WINDOW:
                    process.backoff = BACKOFF_START  # it has been up for a while: forgive
                continue
            process.crashes.append(now)
            while process.crashes and now - process.crashes[0] > CRASH_WINDOW:
                process.crashes.popleft()
            if len(process.crashes) >= MAX_CRASHES:
                self.failure = (f"{process.name} exited {len(process.crashes)} times in {CRASH_WINDOW:.0f} s "
                                f"(last exit code {code}); stopping everything. Its last lines:\n  "
                                + "\n  ".join(list(process.tail)[-10:]))
                self.stopping = True
                return
            self.say("system", f"{process.name} exited with code {code}; starting it again in {process.backoff:g} s",
                     "31")
            process.restart_at = now + process.backoff
            process.backoff = min(process.backoff * 2, BACKOFF_MAX)

    def _on_signal(self, signum, frame) -> None:
        self.interrupts += 1
        if not self.stopping:
            self.stopping = True
            return
        if self.interrupts >= 2:
            self.say("system", "Second interrupt: asking the worker for a cold shutdown (running tasks get their "
                               "soft-shutdown time, then unfinished ones go back to the queue)", "31")
            for process in self.processes:
                process.signal(signal.SIGQUIT if process.name.startswith("worker") else signal.SIGKILL)

    def _stop_all(self) -> int:
        self.say("system", "stopping: SIGTERM to each process (the worker lets running tasks finish; "
                           "Ctrl-C again to hurry it)")
        for process in self.processes:
            process.signal(signal.SIGINT if process.name.startswith("worker") else signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(p.popen and p.popen.poll() is None for p in self.processes):
            time.sleep(0.2)
        for process in self.processes:
            if process.popen and process.popen.poll() is None:
                self.say("system", f"{process.name} did not stop in {STOP_TIMEOUT:.0f} s: killed", "31")
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()
        for process in self.processes:
            if process.popen:
                self.say("system", f"{process.name} stopped (exit code {process.popen.returncode})")
        if self.failure:
            self.say("system", self.failure, "31")
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m site_config.devtools.supervisor [--procfile PATH] [names...]`: run those Procfile
    entries (default: web, worker and beat) with the current environment."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m site_config.devtools.supervisor")
    parser.add_argument("--procfile", type=Path, default=None)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    base_dir = Path(__file__).resolve().parents[2]
    entries = procfile_entries(args.procfile or base_dir / "Procfile")
    names = args.names or [name for name in ("web", "worker", "beat") if name in entries] or list(entries)
    unknown = [name for name in names if name not in entries]
    if unknown:
        print(f"Not in the Procfile: {', '.join(unknown)}", file=sys.stderr)
        return 2
    return Supervisor({name: entries[name] for name in names}, env=dict(os.environ), cwd=base_dir).run()


if __name__ == "__main__":
    sys.exit(main())
