"""A broadcast's decide (pure, runtime/decisions.py): reconcile when due, and its status from the facts
of the streams it names when they or its spec changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamops.api import Broadcast
from streamops.api.broadcast import BroadcastStatus
from streamops.control.broadcast.status import broadcast_status
from streamops.control.runtime.decisions import (
    Action,
    LoopFacts,
    SpecOutcome,
    StatusInputs,
    invalid_spec_status,
    status_only,
    validated,
    with_status,
)
from streamops.control.runtime.indexes import StreamFacts
from streamops.kube.manifests import Manifest

Facts = tuple[tuple[str, StreamFacts | None], ...]  # each named stream's, in the spec's order


@dataclass(frozen=True)
class BroadcastObserved:
    facts: LoopFacts
    outcome: SpecOutcome | None
    body: Mapping[str, Any]  # the object as last seen (kopf's read-only view: copied only to write)
    written: Manifest  # the status the loop last wrote
    streams: Facts


def broadcast_update(observed: BroadcastObserved, outcome: SpecOutcome) -> Manifest:
    raw, now = with_status(observed.body, observed.written), observed.facts.stamp
    broadcast = None if outcome.invalid_spec else validated(Broadcast, raw)
    if broadcast is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", now, BroadcastStatus).wire()
    spec, name = broadcast.spec, observed.facts.name
    status = broadcast_status(name, spec, broadcast.status, broadcast.metadata.generation, dict(observed.streams), now)
    return status.wire()


def decide(observed: BroadcastObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
    return status_only(
        observed.facts, observed.outcome, observed.streams, memory, lambda o: broadcast_update(observed, o)
    )
