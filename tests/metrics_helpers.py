"""Helpers for tests that read the metrics: a scrape parsed into samples, and one sample's value."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from site_config.ops.collector import metrics_text


def scrape() -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition (as /metrics serves it), keyed by (sample name, labels)."""
    samples = {}
    for family in text_string_to_metric_families(metrics_text().decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
