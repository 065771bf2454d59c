"""The Prometheus collector behind /metrics: reads what every process recorded in Redis (site_config.ops.metrics)
and asks the broker for its queue lengths, at scrape time.

Its own registry, not prometheus_client's default one: the default registry's process and GC
metrics would describe whichever web process happened to answer the scrape, not the formation.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from site_config.ops.liveness import workers_alive
from site_config.ops.metrics import RECORDED, TASKS_QUEUED, redis_client

logger = logging.getLogger(__name__)


def _decoded(raw: dict) -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in (raw or {}).items()}


def _counter(metric, fields: dict[str, str]):
    family = CounterMetricFamily(metric.name, metric.documentation, labels=metric.labels)
    for field, value in sorted(fields.items()):
        family.add_metric(json.loads(field), float(value))
    return family


def _histogram(metric, fields: dict[str, str]):
    family = HistogramMetricFamily(metric.name, metric.documentation, labels=metric.labels)
    series: dict[tuple, dict[str, float]] = {}
    for field, value in fields.items():
        *labels, part = json.loads(field)
        series.setdefault(tuple(labels), {})[part] = float(value)
    bounds = [*(str(bound) for bound in metric.buckets), "+Inf"]
    for labels, parts in sorted(series.items()):
        cumulative, buckets = 0.0, []
        for index, bound in enumerate(bounds):
            cumulative += parts.get(f"b{index}", 0.0)
            buckets.append((bound, cumulative))
        family.add_metric(list(labels), buckets, parts.get("sum", 0.0))
    return family


def _process_gauge(metric, fields: dict[str, str], now: float, stale: list[str]):
    family = GaugeMetricFamily(metric.name, metric.documentation, labels=["process", *metric.labels])
    max_age = max(15.0, 5 * settings.METRICS_FLUSH_SECONDS)
    for field, value in sorted(fields.items()):
        amount, _, at = value.partition(" ")
        if now - float(at or 0) > max_age:
            stale.append(field)  # the process stopped reporting: exited or killed
            continue
        family.add_metric(json.loads(field), float(amount))
    return family


def queue_lengths(names: set[str]) -> dict[str, int]:
    """Messages waiting in each queue, asked of the broker through kombu (any transport)."""
    from site_config.celery import app

    lengths = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in sorted(names):
            try:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except connection.channel_errors:
                lengths[name] = 0  # not declared yet: nothing ever sent to it
                channel = connection.channel()  # a failed passive declare may close the channel (AMQP)
    return lengths


class SiteCollector:
    def collect(self):
        client = redis_client()
        pipe = client.pipeline(transaction=False)
        for metric in RECORDED:
            pipe.hgetall(metric.key)
        recorded = pipe.execute()
        now = time.time()
        families = []
        for metric, raw in zip(RECORDED, recorded):
            fields = _decoded(raw)
            if metric.kind == "counter":
                families.append(_counter(metric, fields))
            elif metric.kind == "histogram":
                families.append(_histogram(metric, fields))
            else:
                stale: list[str] = []
                families.append(_process_gauge(metric, fields, now, stale))
                if stale:
                    client.hdel(metric.key, *stale)
        online = GaugeMetricFamily("site_workers_online", "Celery workers with a live heartbeat key.")
        online.add_metric([], len(workers_alive(client)))
        families.append(online)
        # Every declared queue, and every queue a task was ever sent to (from the queued counter).
        queued_fields = _decoded(recorded[RECORDED.index(TASKS_QUEUED)])
        names = {queue.name for queue in settings.CELERY_TASK_QUEUES} | {
            json.loads(field)[1] for field in queued_fields}
        lengths = GaugeMetricFamily("site_queue_length", "Messages waiting in each broker queue.", labels=["queue"])
        for name, length in queue_lengths(names).items():
            lengths.add_metric([name], length)
        families.append(lengths)
        yield from families


registry = CollectorRegistry(auto_describe=False)
registry.register(SiteCollector())


def metrics_text() -> bytes:
    """The exposition text of every site metric (blocking: Redis and the broker)."""
    return generate_latest(registry)
