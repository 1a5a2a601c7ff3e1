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
