"""A quality set's status loop (QualitySet and ClusterQualitySet; runtime/tick.py: observe → decide →
act): its generation read and how many LiveStreams name it, from the operator's index of references,
into status (decide.py). Nothing runs for a set: the loop wakes when the set or a stream naming it
changes, and looks every idle interval anyway (a stream that stopped naming it is counted out then)."""

from __future__ import annotations

from streamops.api import CLUSTER_QUALITY_SET, QUALITY_SET
from streamops.api.kinds import Kind
from streamops.api.quality_set import QualitySetStatus
from streamops.control.qualityset.decide import QualitySetObserved, decide
from streamops.control.qualityset.reconcile import reconcile_quality_set
from streamops.control.runtime.decisions import Action, SpecOutcome, StatusInputs
from streamops.control.runtime.indexes import Indexes, index_values
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import KindTick, loop_facts, run_tick_loop


def _kind_loop(api: Kind) -> KindLoop[SpecOutcome]:
    return KindLoop(api=api, reconcile=reconcile_quality_set, status_model=QualitySetStatus, metric_fields=frozenset())


QUALITY_SET_LOOP = _kind_loop(QUALITY_SET)
CLUSTER_QUALITY_SET_LOOP = _kind_loop(CLUSTER_QUALITY_SET)


class QualitySetTick(KindTick[SpecOutcome, QualitySetObserved, StatusInputs]):
    def __init__(self, kind: Kind, indexes: Indexes) -> None:
        self.kind, self.indexes = kind, indexes

    def memory(self) -> StatusInputs:
        return StatusInputs()

    async def observe(self, loop: ObjectLoop[SpecOutcome], memory: StatusInputs) -> QualitySetObserved:
        # A stream is filed once, under the set it names.
        named_by = index_values(self.indexes.quality_set_users, (self.kind.kind, loop.namespace, loop.name))
        users = len(set(named_by))
        return QualitySetObserved(loop_facts(loop), loop.outcome, loop.body, loop.writer.written, users)

    def decide(self, observed: QualitySetObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
        return decide(observed, memory)


async def quality_set_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(state, QUALITY_SET_LOOP, obj, QualitySetTick(QUALITY_SET, indexes))


async def cluster_quality_set_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(state, CLUSTER_QUALITY_SET_LOOP, obj, QualitySetTick(CLUSTER_QUALITY_SET, indexes))
