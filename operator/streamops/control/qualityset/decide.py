"""A quality set's decide (pure, runtime/decisions.py): reconcile when due, and its status — its
generation read and how many LiveStreams name it — when either changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamops.api import QualitySet
from streamops.api.quality_set import QualitySetStatus
from streamops.control.qualityset.status import quality_set_status
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
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class QualitySetObserved:
    facts: LoopFacts
    outcome: SpecOutcome | None
    body: Mapping[str, Any]  # the object as last seen (kopf's read-only view: copied only to write)
    written: Manifest  # the status the loop last wrote
    users: int  # the LiveStreams that name the set (the operator's index of references)


def quality_set_update(observed: QualitySetObserved, outcome: SpecOutcome) -> Manifest:
    raw, now = with_status(observed.body, observed.written), observed.facts.stamp
    quality_set = None if outcome.invalid_spec else validated(QualitySet, raw)
    if quality_set is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", now, QualitySetStatus).wire()
    return quality_set_status(quality_set, observed.users, now).wire()


def decide(observed: QualitySetObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
    return status_only(
        observed.facts, observed.outcome, observed.users, memory, lambda o: quality_set_update(observed, o)
    )
