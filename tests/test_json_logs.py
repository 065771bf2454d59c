"""Logs as JSON lines (DJANGO_LOG_FORMAT=json), and the request id that ties a web request to the
log lines of the tasks it queued, on another process."""

from __future__ import annotations

import json
import logging

import pytest
from celery import states
from django_celery_results.models import TaskResult

from site_config.machinery.logging_filters import JsonLinesFormatter, TaskContextFilter
from site_config.machinery.request_context import current_request_id
from tests.conftest import start_daphne, start_worker
from tests.livetools import wait_for
from tests.roles_helpers import api_call, staff_with_token


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_a_json_line_has_time_level_logger_process_task_and_request_ids():
    record = logging.LogRecord("blog.services", logging.WARNING, __file__, 1, "held %s", ("c1",), None)
    token = current_request_id.set("abc123")
    try:
        TaskContextFilter().filter(record)
    finally:
        current_request_id.reset(token)
    line = json.loads(JsonLinesFormatter().format(record))
    assert line["level"] == "WARNING" and line["logger"] == "blog.services" and line["message"] == "held c1"
    assert line["request_id"] == "abc123" and line["task_id"] is None
    assert isinstance(line["process"], int) and line["time"].endswith("+00:00")


@pytest.mark.live
def test_the_request_id_travels_into_the_tasks_a_request_queues_and_their_json_log_lines(transactional_db, sole_consumer):
    # sole_consumer: this test's own worker (JSON lines) must be the one that runs the job.
    env = {"DJANGO_LOG_FORMAT": "json"}
    worker = start_worker("worker-json-logs", env=env)
    web = start_daphne("daphne-json-logs", env=env)
    try:
        _user, token = staff_with_token("logan", "dashboard.start_demo_job")
        status, headers, body = api_call(web, "POST", "/api/demo-jobs/", token, {"steps": 2, "delay_ms": 0})
        assert status == 202, body
        request_id, task_id = headers["x-request-id"], body["task_id"]
        assert len(request_id) == 32
        wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status=states.SUCCESS).exists(), timeout=60)

        def task_lines():
            lines = [line for line in _json_lines(worker.log()) if line["task_id"] == task_id]
            return lines if any("succeeded" in line["message"] for line in lines) else None

        lines = wait_for(task_lines, timeout=20)
        assert {line["request_id"] for line in lines} == {request_id}, lines
        for line in lines:
            assert {"time", "level", "logger", "process"} <= line.keys()
        # Celery's own records go through the same formatter.
        records = _json_lines(worker.log())
        assert any(line["logger"].startswith("celery") for line in records)
        # Another request, another id.
        assert api_call(web, "GET", "/api/me/", token)[1]["x-request-id"] != request_id
    finally:
        web.stop()
        worker.stop()
