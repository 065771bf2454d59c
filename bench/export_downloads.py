"""Benchmark: three people download the 1,000,000-row export at once from one daphne process.

Builds the staff CSV export of ROWS task rows once (bench/export_tasks.py's rows, written by the
export service to the file-system storage), starts one daphne serving the site, then downloads the
file three times at once through the permission-checked view: two clients read as fast as they can,
one reads at SLOW_RATE bytes per second (1 MB/s). Prints the peak resident memory growth of the
daphne process (VmHWM after the downloads minus VmHWM before them; target: under 50 MB), each
download's time and the daphne's resident memory over time. Every download must end 200 with the
whole file, byte for byte (SHA-256), or the benchmark exits 1 and prints no figure.

`--without-backpressure` serves the same site without site_config.machinery.backpressure (daphne
as it is), to show what daphne's missing back-pressure costs when a reader is slow.

    .venv/bin/python bench/export_downloads.py                          # 1,000,000 rows, ~236 MB
    .venv/bin/python bench/export_downloads.py --without-backpressure
    ROWS=100000 SLOW_RATE=500000 .venv/bin/python bench/export_downloads.py
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import _setup
from export_tasks import ROWS, fill

SLOW_RATE = int(os.environ.get("SLOW_RATE", str(1_000_000)))
READ_BYTES = 64 * 1024
TARGET_MB = 50


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def build_export() -> tuple[int, str, int, str]:
    """(export id, session cookie of its owner, file size, SHA-256 of the file)."""
    import django

    django.setup()
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from dashboard.exports.models import Export
    from dashboard.exports.services import export_write

    fill_seconds, user_id = fill(ROWS)
    export = Export.objects.create(owner_id=user_id, kind=Export.Kind.TASKS, params={},
                                   expires_at=timezone.now() + timedelta(hours=2), task_id="bench")
    start = time.perf_counter()
    export_write(export_id=export.pk, progress=lambda *report: None)
    export.refresh_from_db()
    digest = hashlib.sha256()
    with default_storage.open(export.file.name, "rb") as stored:
        while block := stored.read(1 << 20):
            digest.update(block)
    size = default_storage.size(export.file.name)
    print(json.dumps({"rows": export.rows, "fill_seconds": round(fill_seconds, 1),
                      "export_seconds": round(time.perf_counter() - start, 1), "file_mb": round(size / 1e6, 1)}),
          flush=True)
    return export.pk, _setup.staff_cookie("bench-staff"), size, digest.hexdigest()


class Download(threading.Thread):
    def __init__(self, name: str, port: int, path: str, cookie: str, rate: int | None) -> None:
        super().__init__(name=name)
        self.port, self.path, self.cookie, self.rate = port, path, cookie, rate
        self.status, self.length, self.received, self.seconds, self.error = 0, -1, 0, 0.0, ""
        self.digest = hashlib.sha256()

    def run(self) -> None:
        start = time.monotonic()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            connection.request("GET", self.path, headers={"Cookie": self.cookie, "X-Forwarded-Proto": "https"})
            response = connection.getresponse()
            self.status = response.status
            self.length = int(response.getheader("Content-Length", "-1"))
            while block := response.read(READ_BYTES):
                self.digest.update(block)
                self.received += len(block)
                if self.rate:  # keep to the rate: sleep until the bytes so far are due
                    ahead = self.received / self.rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            connection.close()
        except Exception as error:  # reported, and the benchmark fails
            self.error = f"{error.__class__.__name__}: {error}"
        self.seconds = time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--without-backpressure", action="store_true")
    options = parser.parse_args()
    _setup.migrate()
    export_id, cookie, size, sha256 = build_export()

    port = _setup.free_port()
    app = "download_baseline_asgi:application" if options.without_backpressure else "site_config.asgi:application"
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": f"{_setup.BASE_DIR}{os.pathsep}{Path(__file__).parent}",
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}
    log = open(_setup.WORKDIR / "daphne.log", "wb")
    daphne = subprocess.Popen([str(_setup.BIN / "daphne"), "--verbosity", "0", "--bind", "127.0.0.1", "--port",
                               str(port), app], cwd=_setup.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _setup.wait_for_port(port)
        path = f"/dashboard/exports/{export_id}/download/"
        # One small request first, so the figure is the downloads' and not the first request's imports.
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        warm.request("GET", "/dashboard/my-data/", headers={"Cookie": cookie, "X-Forwarded-Proto": "https"})
        warm_status = warm.getresponse().status
        warm.close()
        if warm_status != 200:
            print(f"the warm-up request answered {warm_status}", file=sys.stderr)
            return 1
        before_kb = _status_kb(daphne.pid, "VmHWM")
        downloads = [Download("fast-1", port, path, cookie, None), Download("fast-2", port, path, cookie, None),
                     Download("slow", port, path, cookie, SLOW_RATE)]
        start = time.monotonic()
        for download in downloads:
            download.start()
        samples = []
        while any(download.is_alive() for download in downloads):
            samples.append((round(time.monotonic() - start), round(_status_kb(daphne.pid, "VmRSS") / 1024, 1)))
            time.sleep(1)
        after_kb = _status_kb(daphne.pid, "VmHWM")
    finally:
        daphne.terminate()
        daphne.wait(timeout=30)
        log.close()
        if os.environ.get("SHOW_LOG"):
            print((_setup.WORKDIR / "daphne.log").read_text()[-3000:], file=sys.stderr)

    failed = [d for d in downloads if d.error or d.status != 200 or d.received != size or d.length != size
              or d.digest.hexdigest() != sha256]
    if failed:
        for d in failed:
            print(f"{d.name}: status {d.status}, {d.received} of {size} bytes, {d.error or 'content differs'}",
                  file=sys.stderr)
        return 1
    growth_mb = (after_kb - before_kb) / 1024
    print(json.dumps({
        "server": "daphne without back-pressure" if options.without_backpressure else "the site (back-pressure)",
        "file_mb": round(size / 1e6, 1), "slow_rate_mb_s": SLOW_RATE / 1e6,
        "seconds": {d.name: round(d.seconds, 1) for d in downloads},
        "peak_rss_before_mb": round(before_kb / 1024, 1), "peak_rss_after_mb": round(after_kb / 1024, 1),
        "peak_rss_growth_mb": round(growth_mb, 1), "target_mb": TARGET_MB,
        "rss_mb_every_30_s": [rss for second, rss in samples[::30]],
    }), flush=True)
    return 0 if growth_mb < TARGET_MB or options.without_backpressure else 2


if __name__ == "__main__":
    sys.exit(main())
