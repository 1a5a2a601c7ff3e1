"""A quality set's status loop (QualitySet and ClusterQualitySet; see runtime/object_loop.py for what
every loop does): its generation read and how many LiveStreams name it, from the operator's index of
references. Nothing runs for a set: the loop wakes when the set or a stream naming it changes, and
looks every idle interval anyway (a stream that stopped naming it is counted out then)."""

from __future__ import annotations

from streamops.api import CLUSTER_QUALITY_SET, QUALITY_SET, QualitySet
from streamops.api.kinds import Kind
from streamops.api.quality_set import QualitySetStatus
from streamops.control.qualityset.reconcile import QualitySetOutcome, reconcile_quality_set
from streamops.control.qualityset.status import quality_set_status
from streamops.control.runtime.indexes import Indexes, QualitySetUsers, index_values
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, run_status_loop, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.kube.manifests import Manifest


def _kind_loop(api: Kind) -> KindLoop[QualitySetOutcome]:
    return KindLoop(api=api, reconcile=reconcile_quality_set, status_model=QualitySetStatus, metric_fields=frozenset())


QUALITY_SET_LOOP = _kind_loop(QUALITY_SET)
CLUSTER_QUALITY_SET_LOOP = _kind_loop(CLUSTER_QUALITY_SET)


def users(index: QualitySetUsers, kind: str, namespace: str, name: str) -> int:
    """How many LiveStreams name the set (a stream is filed once, under the set it names)."""
    return len(set(index_values(index, (kind, namespace, name))))


def quality_set_update(loop: ObjectLoop[QualitySetOutcome], outcome: QualitySetOutcome, streams: int) -> Manifest:
    raw = loop.raw()
    quality_set = loop.valid_object(raw, QualitySet, outcome)
    if quality_set is None:
        return loop.invalid_spec_status(raw, outcome)
    return quality_set_status(quality_set, streams, utcnow()).wire()


async def _loop(kind: KindLoop[QualitySetOutcome], state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    def observe(loop: ObjectLoop[QualitySetOutcome]) -> int:
        return users(indexes.quality_set_users, kind.api.kind, loop.namespace, loop.name)

    await run_status_loop(state, kind, obj, observe, quality_set_update)


async def quality_set_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await _loop(QUALITY_SET_LOOP, state, obj, indexes)


async def cluster_quality_set_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await _loop(CLUSTER_QUALITY_SET_LOOP, state, obj, indexes)
