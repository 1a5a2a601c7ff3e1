"""A broadcast's status loop (runtime/tick.py: observe → decide → act): the facts of the streams it
names, from the operator's stream index, into status (decide.py). It follows each of them, so a
stream going live or away wakes it at once."""

from __future__ import annotations

from streamops.api import BROADCAST
from streamops.api.broadcast import BroadcastStatus, stream_names
from streamops.control.broadcast.decide import BroadcastObserved, decide
from streamops.control.broadcast.reconcile import reconcile_broadcast
from streamops.control.runtime.decisions import Action, SpecOutcome, StatusInputs
from streamops.control.runtime.indexes import Indexes, indexed_stream
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import KindTick, loop_facts, run_tick_loop

BROADCAST_LOOP = KindLoop(
    api=BROADCAST, reconcile=reconcile_broadcast, status_model=BroadcastStatus, metric_fields=frozenset()
)


class BroadcastTick(KindTick[SpecOutcome, BroadcastObserved, StatusInputs]):
    def __init__(self, indexes: Indexes) -> None:
        self.indexes = indexes

    def memory(self) -> StatusInputs:
        return StatusInputs()

    async def observe(self, loop: ObjectLoop[SpecOutcome], memory: StatusInputs) -> BroadcastObserved:
        names = stream_names(loop.body.spec)
        for name in names:  # a stream's events wake this loop (once followed, until the loop ends)
            loop.state.follow(loop.key, loop.namespace, name)
        streams = tuple((name, indexed_stream(self.indexes.streams, loop.namespace, name)) for name in names)
        return BroadcastObserved(loop_facts(loop), loop.outcome, loop.body, loop.writer.written, streams)

    def decide(self, observed: BroadcastObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
        return decide(observed, memory)


async def broadcast_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(state, BROADCAST_LOOP, obj, BroadcastTick(indexes))
