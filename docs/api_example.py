#!/usr/bin/env python3
"""Example API client: start the demo job and follow its progress until it ends (standard library only).

    export API_TOKEN=ldt_...            # create one at http://127.0.0.1:8000/accounts/tokens/
    python docs/api_example.py --site http://127.0.0.1:8000 --steps 10

Prints "started <task id>", then one line per progress change, then the final state. Exits 0 when the
task succeeded, 1 when it failed or was revoked, 2 on an API error (the error's JSON is printed).
The test suite runs this script against a live site (tests/test_api_stream.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request


def call(site: str, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        site.rstrip("/") + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
    )
    return urllib.request.urlopen(request, timeout=30)


def follow(site: str, token: str, task_id: str):
    """Yield the task's JSON at each change, from the server-sent-events stream (reconnecting when
    the server ends a long stream before the task ends)."""
    while True:
        with call(site, token, "GET", f"/api/tasks/{task_id}/events/") as stream:
            event, data = "message", []
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    continue
                if line:
                    field, _, value = line.partition(": ")
                    if field == "event":
                        event = value
                    elif field == "data":
                        data.append(value)
                    continue
                if event == "end":
                    return
                if event == "task" and data:
                    yield json.loads("\n".join(data))
                event, data = "message", []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="http://127.0.0.1:8000")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--delay-ms", type=int, default=200)
    options = parser.parse_args()
    token = os.environ.get("API_TOKEN")
    if not token:
        print("Set API_TOKEN (create one at /accounts/tokens/).", file=sys.stderr)
        return 2
    try:
        with call(options.site, token, "POST", "/api/demo-jobs/", {"steps": options.steps, "delay_ms": options.delay_ms}) as answer:
            task_id = json.load(answer)["task_id"]
        print(f"started {task_id}", flush=True)
        last = None
        for task in follow(options.site, token, task_id):
            last = task
            if task["percent"] is not None and not task["final"]:
                print(f"{task['percent']:3d}% {task['message']}", flush=True)
    except urllib.error.HTTPError as error:
        print(error.read().decode(), file=sys.stderr)
        return 2
    if last is None:
        return 2
    outcome = last["error"] or " ".join(last["result"].split())  # the result's JSON on one line
    print(f"{last['state']} {outcome}".strip(), flush=True)
    return 0 if last["state"] == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
