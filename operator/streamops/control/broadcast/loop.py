"""A broadcast's status loop (see runtime/object_loop.py for what every loop does): the facts of the
streams it names, from the operator's stream index, into status. It follows each of them, so a
stream going live or away wakes it at once."""

from __future__ import annotations

from streamops.api import BROADCAST, Broadcast
from streamops.api.broadcast import BroadcastStatus
from streamops.control.broadcast.reconcile import BroadcastOutcome, reconcile_broadcast
from streamops.control.broadcast.status import broadcast_status
from streamops.control.runtime.indexes import Indexes, StreamFacts, StreamIndex, index_values
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.kube.manifests import Manifest

BROADCAST_LOOP = KindLoop(
    api=BROADCAST, reconcile=reconcile_broadcast, status_model=BroadcastStatus, metric_fields=frozenset()
)


def stream_facts(streams: StreamIndex, namespace: str, names: list[str]) -> dict[str, StreamFacts | None]:
    return {name: next(iter(index_values(streams, (namespace, name))), None) for name in names}


def broadcast_update(
    loop: ObjectLoop[BroadcastOutcome], outcome: BroadcastOutcome, facts: dict[str, StreamFacts | None]
) -> Manifest:
    raw = loop.raw()
    broadcast = loop.valid_object(raw, Broadcast, outcome)
    if broadcast is None:
        return loop.invalid_spec_status(raw, outcome)
    return broadcast_status(
        loop.name, broadcast.spec, broadcast.status, broadcast.metadata.generation, facts, utcnow()
    ).wire()


def named_streams(loop: ObjectLoop[BroadcastOutcome]) -> list[str]:
    """The streams the spec names, as written (a spec the model refuses names none)."""
    names = loop.body.spec.get("streams") or []
    return [str(n) for n in names if isinstance(n, str)]


async def broadcast_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    loop = ObjectLoop(state, BROADCAST_LOOP, obj)
    try:
        while loop.running:
            outcome = await loop.reconciled()
            if outcome is None:
                await loop.sleep()
                continue
            names = named_streams(loop)
            for name in names:  # a stream's events wake this loop (once followed, until the loop ends)
                state.follow(loop.key, loop.namespace, name)
            facts = stream_facts(indexes.streams, loop.namespace, names)
            if loop.changed((loop.body.metadata.get("generation"), outcome, tuple(facts.items()))):
                await loop.write(broadcast_update(loop, outcome, facts), [])
            await loop.sleep()
    finally:
        loop.close()
