"""A broadcast's status loop (see runtime/object_loop.py for what every loop does): the facts of the
streams it names, from the operator's stream index, into status. It follows each of them, so a
stream going live or away wakes it at once."""

from __future__ import annotations

from streamops.api import BROADCAST, Broadcast
from streamops.api.broadcast import BroadcastStatus, stream_names
from streamops.control.broadcast.reconcile import BroadcastOutcome, reconcile_broadcast
from streamops.control.broadcast.status import broadcast_status
from streamops.control.runtime.indexes import Indexes, StreamFacts, indexed_stream
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, run_status_loop, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.kube.manifests import Manifest

BROADCAST_LOOP = KindLoop(
    api=BROADCAST, reconcile=reconcile_broadcast, status_model=BroadcastStatus, metric_fields=frozenset()
)


Facts = tuple[tuple[str, StreamFacts | None], ...]  # each named stream's, in the spec's order


def broadcast_update(loop: ObjectLoop[BroadcastOutcome], outcome: BroadcastOutcome, facts: Facts) -> Manifest:
    raw = loop.raw()
    broadcast = loop.valid_object(raw, Broadcast, outcome)
    if broadcast is None:
        return loop.invalid_spec_status(raw, outcome)
    status = broadcast_status(
        loop.name, broadcast.spec, broadcast.status, broadcast.metadata.generation, dict(facts), utcnow()
    )
    return status.wire()


async def broadcast_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    def observe(loop: ObjectLoop[BroadcastOutcome]) -> Facts:
        names = stream_names(loop.body.spec)
        for name in names:  # a stream's events wake this loop (once followed, until the loop ends)
            state.follow(loop.key, loop.namespace, name)
        return tuple((name, indexed_stream(indexes.streams, loop.namespace, name)) for name in names)

    await run_status_loop(state, BROADCAST_LOOP, obj, observe, broadcast_update)
