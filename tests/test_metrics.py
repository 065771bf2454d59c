"""/metrics: who may read it, and figures recorded by other processes (worker, daphne) showing up."""

from __future__ import annotations

import pytest

from dashboard.tasks import demo_job_task
from site_config.ops import collector
from site_config.ops.metrics import LIVE_DELIVERY_SECONDS, TASKS_FINISHED, Metric, recorder
from tests.conftest import session_cookie
from tests.livetools import collect_until_final, wait_for, ws_connect
from tests.metrics_helpers import scrape, value

TOKEN = "s3cret-metrics-token"


# --- who may read it ---

def test_metrics_are_off_when_no_reader_is_configured(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "site_workers_online" in response.content.decode()


def test_metrics_admit_the_trusted_networks_only(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "::1/128"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


# --- what it counts, across processes ---

@pytest.mark.live
def test_a_task_run_by_the_worker_and_watched_on_daphne_shows_in_the_metrics(live_worker, daphne_server, alice):
    task = "dashboard.tasks.demo_job_task"
    recorder.flush()  # what earlier tests in this process recorded
    before = scrape()
    parked = [demo_job_task.apply_async((3, 0), queue="parked") for _ in range(3)]  # nobody consumes "parked"
    result = demo_job_task.delay_for(alice, 10, 50)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(alice)) as ws:
        collect_until_final(ws)

        def socket_open_and_updates_delivered():
            samples = scrape()
            sockets = sum(v for (name, _), v in samples.items() if name == "site_websockets_open")
            delivered = value(samples, "site_live_delivery_seconds_count") > value(
                before, "site_live_delivery_seconds_count")
            return samples if sockets >= 1 and delivered else None

        # daphne sends its figures every METRICS_FLUSH_SECONDS (2 s)
        during = wait_for(socket_open_and_updates_delivered, timeout=15, interval=0.5)
    recorder.flush()  # the queued counts of this (test) process

    def started_and_finished():
        # The worker's child sends its counts every 2 s; other tests' tasks may add to them meanwhile.
        samples = scrape()
        started = value(samples, "site_tasks_started_total", task=task) > value(
            before, "site_tasks_started_total", task=task)
        finished = value(samples, "site_tasks_finished_total", task=task, outcome="success") > value(
            before, "site_tasks_finished_total", task=task, outcome="success")
        return samples if started and finished else None

    after = wait_for(started_and_finished, timeout=15, interval=0.5)
    assert value(after, "site_tasks_queued_total", task=task, queue="parked") - value(
        before, "site_tasks_queued_total", task=task, queue="parked") == len(parked)
    assert value(after, "site_tasks_queued_total", task=task, queue="celery") > value(
        before, "site_tasks_queued_total", task=task, queue="celery")
    assert value(after, "site_queue_length", queue="parked") >= len(parked)
    assert value(after, "site_queue_length", queue="email") == 0
    assert value(after, "site_workers_online") >= 1
    delivered = value(during, "site_live_delivery_seconds_count")
    assert value(during, "site_live_delivery_seconds_bucket", le="+Inf") == delivered


def test_histogram_buckets_are_cumulative_and_counters_add_up_across_flushes(monkeypatch):
    # A histogram of its own: daphne may be sending real deliveries meanwhile.
    histogram = Metric("site_test_seconds", "histogram", "Test only.", buckets=LIVE_DELIVERY_SECONDS.buckets)
    monkeypatch.setattr(collector, "RECORDED", (*collector.RECORDED, histogram))
    recorder.flush()
    before = scrape()
    for seconds in (0.001, 0.03, 0.03, 7.0):
        histogram.observe(seconds)
    TASKS_FINISHED.inc("tests.example_task", "failure")
    assert recorder.flush()
    TASKS_FINISHED.inc("tests.example_task", "failure", amount=2)
    assert recorder.flush()
    after = scrape()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("site_tasks_finished_total", task="tests.example_task", outcome="failure") == 3
    assert delta("site_test_seconds_bucket", le="0.005") == 1
    assert delta("site_test_seconds_bucket", le="0.05") == 3
    assert delta("site_test_seconds_bucket", le="5.0") == 3
    assert delta("site_test_seconds_bucket", le="+Inf") == 4
    assert delta("site_test_seconds_count") == 4
    assert delta("site_test_seconds_sum") == pytest.approx(7.061)


def test_figures_recorded_while_redis_is_away_are_sent_on_the_next_flush(settings):
    from site_config.devtools.local_redis import free_port

    recorder.flush()
    before = scrape()
    real_url = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    TASKS_FINISHED.inc("tests.example_task", "retry")
    assert recorder.flush() is False
    settings.REDIS_URL = real_url
    assert recorder.flush() is True
    assert value(scrape(), "site_tasks_finished_total", task="tests.example_task", outcome="retry") == value(
        before, "site_tasks_finished_total", task="tests.example_task", outcome="retry") + 1
