"""The loop runtime's act (runtime/tick.py): the generic actions performed in order, a kind's own
handed to its tick, and the next tick at once after a new outcome — once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf
from streamops.api.broadcast import BroadcastStatus
from streamops.api.kinds import BROADCAST
from streamops.control.runtime.decisions import Reconcile, ResyncWithin, SpecOutcome, Wake
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject, kept
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import KindTick, act
from streamops.control.shared.settings import OperatorSettings


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
