"""The loop runtime's act (runtime/tick.py): the generic actions performed in order, a kind's own
handed to its tick, and the next tick at once after a new outcome — once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf
from streamops.api.broadcast import BroadcastStatus
from streamops.api.kinds import BROADCAST
from streamops.control.runtime.decisions import Reconcile, ResyncWithin, SpecOutcome, Wake, WorkerRequest
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject, kept
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import KindTick, act, request
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import http_client
from streamops.control.workers.worker_credentials import WorkerCredentials

from tests.unit.control.loopback_worker import LoopbackWorker


class Own:
    """A kind's own action."""


class Tick(KindTick[SpecOutcome, None, None]):
    def __init__(self) -> None:
        self.performed: list[object] = []

    def memory(self) -> None:
        return None

    async def observe(self, loop: ObjectLoop[SpecOutcome], memory: None) -> None:
        return None

    def decide(self, observed: None, memory: None) -> tuple[list[object], None]:
        return [], None

    async def perform(self, loop: ObjectLoop[SpecOutcome], action: object) -> None:
        self.performed.append(action)


def scenario(test: Any) -> None:
    async def run() -> None:
        event = {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "Broadcast",
            "metadata": {"name": "show", "namespace": "media", "uid": "b", "generation": 1},
            "spec": {"streams": ["cam"]},
        }
        obj = LiveObject(("Broadcast", "media", "show"), kept(kopf.Body(event)), status={})
        state = OperatorState(api=None, settings=OperatorSettings())  # type: ignore[arg-type]

        def reconcile(api: object, settings: object, body: dict[str, Any], allocator: object, **_: object) -> Any:
            return SpecOutcome(body["metadata"]["generation"])

        kind = KindLoop(api=BROADCAST, reconcile=reconcile, status_model=BroadcastStatus, metric_fields=frozenset())
        loop = ObjectLoop(state, kind, obj)
        try:
            await test(loop)
        finally:
            loop.close()
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())


def test_after_a_new_outcome_the_next_tick_comes_at_once_but_only_once():
    async def test(loop: ObjectLoop[SpecOutcome]) -> None:
        tick = Tick()
        started = time.monotonic()
        await act(loop, [Reconcile(), Wake(30.0)], tick)  # would wait 30 s
        assert loop.outcome == SpecOutcome(1) and loop.reconciles == 1
        assert time.monotonic() - started < 10
        loop.woken.set()  # (the second one waits: woken, not timed out)
        await act(loop, [Reconcile(), Wake(30.0)], tick)
        assert loop.reconciles == 2 and not loop.woken.is_set()

    scenario(test)


def test_a_kinds_own_action_goes_to_its_tick_and_a_tick_without_wake_still_waits():
    async def test(loop: ObjectLoop[SpecOutcome]) -> None:
        tick, own = Tick(), Own()
        loop.woken.set()
        before = loop.next_resync
        await act(loop, [own, ResyncWithin(0.0)], tick)
        assert tick.performed == [own]
        assert loop.next_resync <= time.monotonic() < before
        assert not loop.woken.is_set()  # the idle wait ran (and was woken)

    scenario(test)


def test_a_waking_requests_answer_wakes_the_loop_and_dates_the_pods_next_read():
    """A pusher's release in a handover (WorkerRequest.wake): the tick after its answer comes at
    once (not the next 0.5 s tick), and notes when the Pod answered, so that its /status is read
    afresh (SharedTelemetry's not_before); a request without wake leaves the loop asleep."""

    async def test(loop: ObjectLoop[SpecOutcome]) -> None:
        worker = LoopbackWorker()
        port = await worker.start()
        pod = PodObservation(
            name="cam-pusher", exists=True, uid="pod-1", phase="Running", ip="127.0.0.1", http_port=port
        )

        async def credential(namespace: str, stream: str) -> bytes | None:
            return b"worker-credential"

        loop.state._credentials = WorkerCredentials(credential)
        async with http_client() as client:
            loop.state.client = client
            loop.woken.clear()
            await request(loop, WorkerRequest(pod, "PUT", "/targets", "cam", "handover", b'{"targets": []}', wake=True))
            before = time.monotonic()
            await loop.sending["handover"]
            assert worker.requests == 1 and loop.woken.is_set(), "the answer woke the loop"
            assert loop.answered["pod-1"] >= before, "when the Pod answered, for its next read"
            loop.woken.clear()
            await request(loop, WorkerRequest(pod, "PUT", "/targets", "cam", "targets", b'{"targets": []}'))
            await loop.sending["targets"]
            assert worker.requests == 2 and not loop.woken.is_set(), "an ordinary send wakes nothing"
            loop.state.client = None
        worker.close()

    scenario(test)
