"""The ingest's and the recorder's Prometheus collectors, made from the metric catalogue
(contract/metrics.py): the name, help and labels of each come from its entry, never from here. The
pusher writes its text itself (metrics_text.py), without prometheus-client.

Values the worker keeps anyway are read when scraped (`set_function`, `CounterFunction`), not
copied into the collectors on every change."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from streamops.contract.metrics import Exporter, MetricSpec, spec


def worker_registry() -> CollectorRegistry:
    """A worker's registry. Counters without their `_created` series: one more series per counter
    child that nothing here queries (and the series budget per stream is 30: contract/metrics.py)."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    return CollectorRegistry()


def _entry(name: str, exporter: Exporter, kind: str) -> MetricSpec:
    entry = spec(name, exporter)
    if entry.type != kind:
        raise TypeError(f"{name} is a {entry.type} in the catalogue, not a {kind}")
    return entry


def gauge(name: str, exporter: Exporter, registry: CollectorRegistry) -> Gauge:
    entry = _entry(name, exporter, "gauge")
    return Gauge(entry.family, entry.help, entry.labels, registry=registry)


def counter(name: str, exporter: Exporter, registry: CollectorRegistry) -> Counter:
    entry = _entry(name, exporter, "counter")
    return Counter(entry.family, entry.help, entry.labels, registry=registry)


def read_gauge(
    name: str, exporter: Exporter, registry: CollectorRegistry, labels: Mapping[str, str], read: Callable[[], float]
) -> None:
    """A gauge with one child whose value is `read()` at each scrape."""
    gauge(name, exporter, registry).labels(**labels).set_function(read)


class CounterFunction(Collector):
    """A counter with one child whose value is `read()` at each scrape: for counts the worker keeps
    anyway (refused publishers, bytes uploaded), so they are not counted twice."""

    def __init__(self, name: str, exporter: Exporter, labels: Mapping[str, str], read: Callable[[], float]) -> None:
        self.entry = _entry(name, exporter, "counter")
        if set(labels) != set(self.entry.labels):
            raise ValueError(f"{name} has the labels {self.entry.labels}, not {sorted(labels)}")
        self.labels, self.read = dict(labels), read

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.entry.family, self.entry.help, labels=self.entry.labels)
        family.add_metric([self.labels[label] for label in self.entry.labels], self.read())
        yield family

    def describe(self) -> Iterable[Metric]:
        # Registered without being collected (the registry asks describe() first when there is one).
        yield CounterMetricFamily(self.entry.family, self.entry.help, labels=self.entry.labels)


def read_counter(
    name: str, exporter: Exporter, registry: CollectorRegistry, labels: Mapping[str, str], read: Callable[[], float]
) -> None:
    registry.register(CounterFunction(name, exporter, labels, read))
