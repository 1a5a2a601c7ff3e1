"""The operator's metrics without a cluster (streamops.control.runtime.operator_metrics): collectors as
the catalogue has them, what a status loop counts (reconciles, their duration, the queue latency,
the objects followed), worker restarts summed per stream and worker, the quota series, what goes
with a deleted stream, and the /metrics server. With a real API server: tests/cluster/test_operator_metrics.py."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Callable
from typing import Any

import kopf
import pytest
from devtools.catalog import recording
from devtools.fake_kube import FakeKubeApi
from devtools.ports import free_port
from prometheus_client.parser import text_string_to_metric_families
from streamops.api import RECORDING, RecordingStatus
from streamops.contract.metrics import OPERATOR_METRICS
from streamops.control.runtime import operator_metrics
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.operator_metrics import (
    REGISTRY,
    WorkerRestarts,
    metrics_server,
    metrics_text,
    operator_metric,
    storage_quota,
    stream_active,
    stream_deleted,
)
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation


async def reconciled(loop: Any) -> None:
    """What a tick does: reconcile when one is due (tick.py's decide and act)."""
    if loop.reconcile_due():
        await loop.reconcile_now()


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def count(name: str, **labels: str) -> float:
    return sample(name, **labels) or 0.0


def test_every_operator_metric_is_the_catalogues():
    families = {f.name: f for f in text_string_to_metric_families(metrics_text().decode())}
    for entry in OPERATOR_METRICS:
        family = families[entry.family]
        assert (family.type, family.documentation) == (entry.type, entry.help), entry.name
        assert operator_metric(entry.name)._labelnames == entry.labels
    assert sample("streamops_operator_leader") in (0.0, 1.0)
    for kind in ("livestream", "recording", "restream"):  # from the start: a first error is an increase
        assert sample("streamops_operator_reconciles_total", kind=kind, result="error") is not None
    assert not [s for f in families.values() for s in f.samples if s.name.endswith("_created")]
    with pytest.raises(KeyError, match="not an operator metric"):
        operator_metric("streamops_ingest_live")


def test_the_leader_gauge_follows_kopf():
    operator_metrics.set_leader(True)
    assert sample("streamops_operator_leader") == 1
    operator_metrics.set_leader(False)
    assert sample("streamops_operator_leader") == 0


# --- a status loop's reconciles ---------------------------------------------------------------------


def test_a_loop_counts_its_reconciles_their_time_and_the_queue_from_the_event(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("streamops.control.runtime.object_loop.kopf.event", lambda *a, **k: None)
    outcomes: list[Any] = []

    class Outcome:
        def __init__(self, generation: int) -> None:
            self.generation, self.invalid_spec = generation, None

    def reconcile(api: Any, settings: Any, raw: dict[str, Any], allocator: Any, **hints: Any) -> Outcome:
        if raw["spec"].get("title") == "fail":
            raise RuntimeError("the API server said no")
        outcomes.append(raw["metadata"]["generation"])
        return Outcome(raw["metadata"]["generation"])

    kind = KindLoop(api=RECORDING, reconcile=reconcile, status_model=RecordingStatus, metric_fields=frozenset())
    body = recording("rec")
    body["metadata"].update(namespace="media", uid="u-metrics", generation=1)
    state = OperatorState(api=FakeKubeApi(), settings=OperatorSettings())
    obj = LiveObject(("Recording", "media", "rec"), kopf.Body(body))
    ok = ("streamops_operator_reconciles_total", {"kind": "recording", "result": "ok"})
    error = ("streamops_operator_reconciles_total", {"kind": "recording", "result": "error"})
    seconds = ("streamops_operator_reconcile_duration_seconds_count", {"kind": "recording"})
    queued = ("streamops_operator_queue_latency_seconds_count", {"kind": "recording"})
    objects = ("streamops_operator_objects", {"kind": "recording"})
    watched = (ok, error, seconds, queued, objects)

    def now() -> list[float]:
        return [count(name, **labels) for name, labels in watched]

    def since(before: list[float]) -> list[float]:
        return [b - a for a, b in zip(before, now(), strict=True)]

    async def run() -> None:
        start = now()
        loop = ObjectLoop(state, kind, obj)
        assert since(start) == [0, 0, 0, 0, 1], "one object more"
        await reconciled(loop)  # the first: answers the event that showed the object
        assert since(start) == [1, 0, 1, 1, 1]
        state.wake(loop.key)  # its own status write's echo: no reconcile, no latency
        await reconciled(loop)
        assert since(start) == [1, 0, 1, 1, 1]
        loop.obj.body = kopf.Body({**body, "metadata": {**body["metadata"], "generation": 2}})
        state.wake(loop.key)  # a spec change
        await reconciled(loop)
        assert since(start) == [2, 0, 2, 2, 1]
        loop.obj.body = kopf.Body(
            {**body, "spec": {**body["spec"], "title": "fail"}, "metadata": {**body["metadata"], "generation": 3}}
        )
        state.wake(loop.key)
        await reconciled(loop)
        assert since(start) == [2, 1, 3, 3, 1], "an error is counted, timed, and its latency too"
        loop.next_resync = 0.0  # a resync after the retry delay answers no event
        loop.retry_at = 0.0
        loop.obj.body = kopf.Body({**body, "metadata": {**body["metadata"], "generation": 2}})
        await reconciled(loop)
        assert since(start) == [3, 1, 4, 3, 1] and outcomes[-1] == 2
        loop.close()
        assert since(start) == [3, 1, 4, 3, 0]
        state.executor.shutdown()
        state.status_executor.shutdown()

    asyncio.run(run())


def test_a_loop_started_again_after_a_failure_answers_no_event():
    obj = LiveObject(("Recording", "media", "rec"), kopf.Body(recording("rec")))
    assert obj.unanswered_since == obj.since
    obj.unanswered_since = None  # (taken by the first loop)
    assert obj.unanswered_since is None


# --- per stream -----------------------------------------------------------------------------------------


def restarts(namespace: str, stream: str, worker: str) -> float | None:
    return sample("streamops_worker_restarts", namespace=namespace, stream=stream, worker=worker)


def test_worker_restarts_are_summed_over_the_objects_of_a_stream():
    tracker = WorkerRestarts()
    tracker.report("restream-a", "ns", "cam", {"pusher": 2})
    tracker.report("restream-b", "ns", "cam", {"pusher": 3})
    tracker.report("stream", "ns", "cam", {"ingest": 1, "recorder": 0})
    assert (restarts("ns", "cam", "pusher"), restarts("ns", "cam", "ingest")) == (5, 1)
    assert restarts("ns", "cam", "recorder") == 0, "there from the start: the first restart is an increase"
    tracker.forget("restream-a")
    assert restarts("ns", "cam", "pusher") == 3
    tracker.report("stream", "ns", "cam", {"ingest": 1})  # the standby recorder is gone
    assert restarts("ns", "cam", "recorder") is None
    tracker.report("restream-b", "ns", "other", {"pusher": 0})  # it follows another stream now
    assert restarts("ns", "cam", "pusher") is None and restarts("ns", "other", "pusher") == 0
    tracker.forget("restream-b")
    tracker.forget("stream")
    assert restarts("ns", "other", "pusher") is None and restarts("ns", "cam", "ingest") is None


def test_a_loop_reports_the_restarts_of_the_pods_that_exist():
    pod: Callable[[int], dict[str, Any]] = lambda n: {  # noqa: E731
        "metadata": {"name": "x", "uid": "p"},
        "status": {"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": n}, {"restartCount": 1}]},
    }
    assert PodObservation.of("x", pod(4)).restarts == 5
    assert PodObservation.of("x", None).restarts == 0


def test_quota_series_exist_for_the_scopes_with_a_limit_and_go_with_the_stream():
    used = "streamops_recording_storage_used_bytes"
    limit = "streamops_recording_storage_limit_bytes"
    storage_quota("q", "cam", {"namespace": (10, 100), "stream": (4, 50)})
    assert sample(used, namespace="q", stream="", scope="namespace") == 10
    assert (
        sample(used, namespace="q", stream="cam", scope="stream"),
        sample(limit, namespace="q", stream="cam", scope="stream"),
    ) == (4, 50)
    storage_quota("q", "cam", {"stream": (6, 50)})  # no namespace quota (any more)
    assert sample(used, namespace="q", stream="", scope="namespace") is None
    assert sample(used, namespace="q", stream="cam", scope="stream") == 6
    stream_active("q", "cam", True)
    assert sample("streamops_livestream_active", namespace="q", stream="cam") == 1
    stream_active("q", "cam", False)
    assert sample("streamops_livestream_active", namespace="q", stream="cam") == 0
    stream_deleted("q", "cam")
    assert sample("streamops_livestream_active", namespace="q", stream="cam") is None
    assert sample(used, namespace="q", stream="cam", scope="stream") is None
    assert sample(limit, namespace="q", stream="cam", scope="stream") is None
    stream_deleted("q", "cam")  # twice: nothing left to remove


# --- the server -------------------------------------------------------------------------------------------


def test_the_server_answers_metrics_on_its_address_and_port_0_is_off():
    port = free_port()

    async def run() -> tuple[int, str, bytes]:
        async with metrics_server("127.0.0.1", port) as bound:
            assert bound == port
            answer = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
            )
            kind = answer.headers["Content-Type"]
            body = answer.read()
        async with metrics_server("127.0.0.1", 0) as off:
            assert off is None
        return answer.status, kind, body

    status, kind, body = asyncio.run(run())
    assert status == 200 and kind.startswith("text/plain; version=")
    assert b"# TYPE streamops_operator_leader gauge" in body
    with socket.socket() as s:  # closed again
        assert s.connect_ex(("127.0.0.1", port)) != 0
