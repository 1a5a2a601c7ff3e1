"""A playback policy's decide (pure, runtime/decisions.py): reconcile when due, and its status when
its generation or what it is checked against changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamops.api.kinds import PlaybackPolicy
from streamops.api.playback_policy import PlaybackPolicyStatus
from streamops.control.playbackpolicy.status import playback_policy_status
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
class PlaybackPolicyObserved:
    facts: LoopFacts
    outcome: SpecOutcome | None
    body: Mapping[str, Any]  # the object as last seen (kopf's read-only view: copied only to write)
    written: Manifest  # the status the loop last wrote
    geoip: bool  # a GeoIP database is there for the servers (the chart's playback.geoip)
    users: int = 0  # the LiveStreams that name the policy (the operator's index of references)


def playback_policy_update(observed: PlaybackPolicyObserved, outcome: SpecOutcome) -> Manifest:
    raw, now = with_status(observed.body, observed.written), observed.facts.stamp
    policy = None if outcome.invalid_spec else validated(PlaybackPolicy, raw)
    if policy is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", now, PlaybackPolicyStatus).wire()
    return playback_policy_status(policy, observed.geoip, now, observed.users).wire()


def decide(observed: PlaybackPolicyObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
    return status_only(
        observed.facts,
        observed.outcome,
        (observed.geoip, observed.users),
        memory,
        lambda o: playback_policy_update(observed, o),
    )
