"""What the operator keeps in memory between handler calls (control/runtime/state.py): waking an
object's status loop (and asking it to reconcile), the followers of a stream, new spec generations,
per-object locks and wakers shared by the loops of one key until the last goes, API calls run in its
threads by priority, and the port allocator seeded from what the cluster holds."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
from devtools.fake_kube import FakeKubeApi
from streamops.control.runtime import state as state_module
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ports import PortAllocator
from streamops.kube.naming import HOST_PORTS_ANNOTATION
from streamops.kube.threads import FIRST

REC = ("Recording", "ns", "rec")
OUT = ("Restream", "ns", "out")


@pytest.fixture
def state() -> Iterator[OperatorState]:
    made = OperatorState(api=FakeKubeApi(), settings=OperatorSettings())  # type: ignore[arg-type]
    yield made
    made.executor.shutdown()
    made.status_executor.shutdown()


def test_a_wake_sets_the_loops_event_once_and_a_reconcile_request_is_taken_once(state: OperatorState):
    state.wake(REC)  # no loop yet: nothing to set, nothing remembered
    assert state.take_woken_at(REC) is None
    event = state.waker(REC)
    assert not event.is_set()
    state.wake(REC, reconcile=True)
    first = state.take_woken_at(REC)
    assert event.is_set() and first is not None and state.take_woken_at(REC) is None
    assert state.take_reconcile_request(REC) and not state.take_reconcile_request(REC)


def test_followers_of_a_stream_are_woken_by_kind_and_forgotten_with_their_loop(state: OperatorState):
    rec, out = state.waker(REC), state.waker(OUT)
    state.follow(REC, "ns", "cam")
    state.follow(OUT, "ns", "cam")
    state.wake_followers("ns", "cam", reconcile=True, kind="Restream")
    assert out.is_set() and not rec.is_set() and state.take_reconcile_request(OUT)
    state.wake_followers("ns", "other")
    assert not rec.is_set()
    state.forget(REC)
    state.forget(OUT)
    state.wake_followers("ns", "cam")  # nobody follows any more
    assert not rec.is_set()


def test_a_key_held_by_two_loops_keeps_its_waker_and_lock_until_the_last_goes(state: OperatorState):
    """An object deleted and created again under its name: the new loop starts while the old one
    is being cancelled."""
    old, new = state.waker(REC), state.waker(REC)
    lock = state.lock(REC)
    assert old is new and state.lock(REC) is lock
    state.forget(REC)
    assert state.waker(REC) is old and state.lock(REC) is lock
    state.forget(REC)
    state.forget(REC)
    assert state.waker(REC) is not old and state.lock(REC) is not lock


def test_a_spec_change_is_a_new_generation_its_first_sight_or_its_deletion(state: OperatorState):
    key = ("QualitySet", "ns", "hd")
    assert state.spec_changed(key, 1)
    assert not state.spec_changed(key, 1), "a status write"
    assert state.spec_changed(key, 2) and state.spec_changed(key, None)
    assert state.spec_changed(key, 2, gone=True) and state.spec_changed(key, 2)


def test_calls_run_in_the_api_threads_and_their_failures_reach_the_caller(state: OperatorState):
    def where(x: int) -> tuple[str, int]:
        return threading.current_thread().name, x * 2

    async def scenario() -> None:
        name, doubled = await state.call(where, 21)
        assert name.startswith("streamops-api") and doubled == 42
        name, _ = await state.call_at(FIRST, where, 1)
        assert name.startswith("streamops-api")
        name, _ = await state.write_status(where, 1)
        assert name.startswith("streamops-status")
        with pytest.raises(ZeroDivisionError):
            await state.call(lambda: 1 // 0)

    asyncio.run(scenario())


def test_ports_are_seeded_from_the_services_and_pods_the_operator_manages(state: OperatorState):
    api = state.api
    assert isinstance(api, FakeKubeApi)
    for kind, name, ports in (("Service", "cam-ingest", {"rtmp": 30001}), ("Pod", "cam-rec", {"http": 30003})):
        annotations = {HOST_PORTS_ANNOTATION: json.dumps(ports)}
        labels = {"app.kubernetes.io/managed-by": "streamops"}
        api.add(
            {"kind": kind, "metadata": {"name": name, "namespace": "ns", "labels": labels, "annotations": annotations}}
        )
    state.seed_ports("app.kubernetes.io/managed-by=streamops")  # no allocator: nothing to do
    state.allocator = PortAllocator(range(30000, 30005))
    state.seed_ports("app.kubernetes.io/managed-by=streamops")
    assert sorted(state.allocator.allocate(["a", "b", "c"]).values()) == [30000, 30002, 30004]


def test_a_full_range_is_learnt_once_for_every_reconcile_that_asks_meanwhile(
    state: OperatorState, monkeypatch: pytest.MonkeyPatch
):
    """Every reconcile short of ports seeds: with the range full that is every reconcile needing
    one. Each seed lists the metadata of every managed Service and Pod in the cluster; one per
    reconcile, from 16 API threads at once, took the operator to 1.7 GB and a whole core for good
    (bench-operator, 2026-12-01). Those that ask meanwhile wait for the one in flight and use it."""
    api = state.api
    assert isinstance(api, FakeKubeApi)
    labels = {"app.kubernetes.io/managed-by": "streamops"}
    for i in range(5):
        annotations = {HOST_PORTS_ANNOTATION: json.dumps({"rtmp": 30000 + i})}
        api.add(
            {
                "kind": "Pod",
                "metadata": {"name": f"p{i}", "namespace": "ns", "labels": labels, "annotations": annotations},
            }
        )
    state.allocator = PortAllocator(range(30000, 30005))

    def lists() -> int:
        return sum(1 for call in api.calls if call.verb == "list")

    state.seed_ports("app.kubernetes.io/managed-by=streamops")  # the operator's start
    assert lists() == 2 and state.allocator.used == 5
    go = threading.Barrier(16)

    def reconcile_short_of_ports() -> None:
        go.wait()
        state.seed_ports("app.kubernetes.io/managed-by=streamops")

    threads = [threading.Thread(target=reconcile_short_of_ports) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lists() == 2, "learnt again within RESEED_SECONDS of the last seed"
    api.delete("Pod", "ns", "p0")  # one gave its port back: learnt at the next seed due
    monkeypatch.setattr(state_module, "RESEED_SECONDS", 0.0)
    state.seed_ports("app.kubernetes.io/managed-by=streamops")
    assert lists() == 4 and state.allocator.allocate(["rtmp"]) == {"rtmp": 30000}
