"""The operator's own metrics: one registry, a collector per entry of the catalogue's
OPERATOR_METRICS (contract/metrics.py: names, help and labels come from there), what the status
loops report into them, and the HTTP server that exports them (`streamops operator --metrics-port`).

The server runs for the whole process, a standby replica's too (leader 0), so that "no leader" and
"two leaders" are things an alert can see. A stream's series go when the stream is deleted."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from streamops.contract.http import METRICS_PATH
from streamops.contract.metrics import OPERATOR_KINDS, OPERATOR_METRICS, RESULTS, MetricSpec

# Seconds, for the reconcile duration and the queue latency: a reconcile is a few API calls (tens of
# ms); a burst of 500 new objects queues them for seconds (bench/results/operator.md).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A webhook delivery: p99 ≤ 2 s when the receiver is up, up to 24 h of retries when it is not.
DELIVERY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    1800.0,
    3600.0,
    21600.0,
    86400.0,
)
BUCKETS = {"streamops_webhook_delivery_latency_seconds": DELIVERY_BUCKETS}

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: nothing queries them
REGISTRY = CollectorRegistry()


def _collector(entry: MetricSpec) -> Gauge | Counter | Histogram:
    if entry.type == "gauge":
        return Gauge(entry.family, entry.help, entry.labels, registry=REGISTRY)
    if entry.type == "counter":
        return Counter(entry.family, entry.help, entry.labels, registry=REGISTRY)
    buckets = BUCKETS.get(entry.name, SECONDS_BUCKETS)
    return Histogram(entry.family, entry.help, entry.labels, registry=REGISTRY, buckets=buckets)


# Every family up front: /metrics lists them all from the start (HELP, TYPE), children as they come;
# the reconcile counters of every kind at 0, so that a first error is an increase.
_COLLECTORS = {entry.name: _collector(entry) for entry in OPERATOR_METRICS}
for _kind in OPERATOR_KINDS:
    for _result in RESULTS:
        _COLLECTORS["streamops_operator_reconciles_total"].labels(kind=_kind, result=_result)


def operator_metric(name: str) -> Any:
    """The operator's collector of catalogue entry `name`: a prometheus-client Gauge, Counter or
    Histogram, as the entry's type says (typed Any: the caller uses that type's methods, e.g.
    `operator_metric("streamops_webhook_backlog").labels(namespace=..., webhook=...).set(3)`)."""
    try:
        return _COLLECTORS[name]
    except KeyError:
        raise KeyError(f"{name} is not an operator metric of streamops.contract.metrics") from None


# --- what the operator reports ------------------------------------------------------------------


def set_leader(leading: bool) -> None:
    """1 while this process runs kopf (reconciles), 0 while it waits as a standby or stops."""
    operator_metric("streamops_operator_leader").set(1 if leading else 0)


def loop_started(kind: str) -> None:
    """A status loop of `kind` (Kind.singular) began: one more object followed."""
    operator_metric("streamops_operator_objects").labels(kind=kind).inc()


def loop_stopped(kind: str) -> None:
    operator_metric("streamops_operator_objects").labels(kind=kind).dec()


def reconciled(kind: str, seconds: float, ok: bool) -> None:
    """One reconcile of `kind`, how long it took and whether it raised."""
    operator_metric("streamops_operator_reconciles_total").labels(kind=kind, result="ok" if ok else "error").inc()
    operator_metric("streamops_operator_reconcile_duration_seconds").labels(kind=kind).observe(seconds)


def queued(kind: str, seconds: float) -> None:
    """From the watch event that made a reconcile due to the reconcile starting."""
    operator_metric("streamops_operator_queue_latency_seconds").labels(kind=kind).observe(max(0.0, seconds))


def stream_active(namespace: str, stream: str, active: bool) -> None:
    operator_metric("streamops_livestream_active").labels(namespace=namespace, stream=stream).set(1 if active else 0)


def stream_deleted(namespace: str, stream: str) -> None:
    """The LiveStream is gone: its own series go (its workers' restarts go with the loops that
    reported them; a Recording outlives its stream, and so do its recorder's)."""
    for name, labels in (
        ("streamops_livestream_active", (namespace, stream)),
        ("streamops_recording_storage_used_bytes", (namespace, stream, "stream")),
        ("streamops_recording_storage_limit_bytes", (namespace, stream, "stream")),
    ):
        with contextlib.suppress(KeyError):
            operator_metric(name).remove(*labels)


def storage_quota(namespace: str, stream: str, uses: Mapping[str, tuple[int, int]]) -> None:
    """Recorded bytes and limits of the quota scopes that have a limit (scope -> (used, limit)):
    scope namespace with stream="", scope stream with the stream's name. A scope that has no limit
    (any more) has no series."""
    for scope in ("namespace", "stream"):
        labels = (namespace, stream if scope == "stream" else "", scope)
        for name, at in (("streamops_recording_storage_used_bytes", 0), ("streamops_recording_storage_limit_bytes", 1)):
            if scope in uses:
                operator_metric(name).labels(*labels).set(uses[scope][at])
            else:
                with contextlib.suppress(KeyError):
                    operator_metric(name).remove(*labels)


@dataclass
class WorkerRestarts:
    """Container restarts of a stream's worker Pods (streamops_worker_restarts{namespace,stream,
    worker}), summed over the objects whose Pods they are: a stream's Restreams each have a pusher,
    its Recordings a recorder, the stream its ingests and its standby recorder."""

    _by_owner: dict[str, tuple[str, str, dict[str, int]]] = field(default_factory=dict)

    def report(self, owner: str, namespace: str, stream: str, counts: Mapping[str, int]) -> None:
        """`owner` (an object's uid) observed these Pods now: restarts by worker (ingest, recorder,
        pusher). A worker it no longer reports is no longer its."""
        before = self._by_owner.get(owner)
        if before == (namespace, stream, dict(counts)):
            return
        self._by_owner[owner] = (namespace, stream, dict(counts))
        self._publish(self._series(before) | self._series(self._by_owner[owner]))

    def forget(self, owner: str) -> None:
        self._publish(self._series(self._by_owner.pop(owner, None)))

    @staticmethod
    def _series(entry: tuple[str, str, dict[str, int]] | None) -> set[tuple[str, str, str]]:
        return set() if entry is None else {(entry[0], entry[1], worker) for worker in entry[2]}

    def _publish(self, series: Collection[tuple[str, str, str]]) -> None:
        gauge = operator_metric("streamops_worker_restarts")
        for namespace, stream, worker in series:
            counts = [
                c[worker] for ns, s, c in self._by_owner.values() if (ns, s) == (namespace, stream) and worker in c
            ]
            if counts:
                gauge.labels(namespace=namespace, stream=stream, worker=worker).set(sum(counts))
            else:
                with contextlib.suppress(KeyError):
                    gauge.remove(namespace, stream, worker)


WORKER_RESTARTS = WorkerRestarts()


# --- the server -------------------------------------------------------------------------------------


def metrics_text() -> bytes:
    return generate_latest(REGISTRY)


@contextlib.asynccontextmanager
async def metrics_server(address: str, port: int) -> AsyncIterator[int | None]:
    """GET /metrics on `address`:`port` while inside (the port it listens on; None: port 0, off).
    A port that cannot be bound fails the operator's start: a metrics endpoint that silently is
    not there would look like an operator that is down."""
    if port == 0:
        yield None
        return

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=metrics_text(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, address, port, reuse_address=True)
        await site.start()
        yield port
    finally:
        await runner.cleanup()
