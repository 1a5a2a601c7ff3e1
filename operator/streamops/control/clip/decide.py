"""A Clip's decide (pure, runtime/decisions.py): an ordered chain of small policies over what the tick
observed (loop_observe.py) and what the loop decided before (ClipMemory).

1. a clipper Pod lost with its node: one force-delete;
2. a reconcile, when due, when the stream it waits for appeared (or was replaced), or when the quota
   turned before a clipper started (told how full it is: a Clip with no clipper yet is refused);
3. the stream's client fields on Events; a missing storage Secret looked for again soon;
4. retention: the stored video past deleteAfterDays (a DeleteVideos action, as a recording's);
5. the status, when what it is made of changed, with its Events; once it is final, a reconcile that
   removes the clipper Pod;
6. the wake."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streamops.api import Clip, ClipStatus
from streamops.contract.clipper import ClipperStatus
from streamops.control.clip.outcome import ClipOutcome
from streamops.control.clip.specs.names import clipper_pod_name
from streamops.control.clip.status import ClipperObservation, clip_events, clip_status, is_final
from streamops.control.runtime.decisions import (
    Action,
    LoopFacts,
    Reconcile,
    WriteStatus,
    invalid_spec_status,
    lost_pods,
    status_due,
    validated,
    wake,
    with_status,
)
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.conditions import Transition
from streamops.control.storage.retention_policy import Deleted, Retention, after_deletion, videos_to_delete
from streamops.control.storage.storage_quota import QuotaUse
from streamops.control.storage.storing_decide import ClientFields, client_fields, secret_retry, stream_moved
from streamops.control.storage.video_expiry import VIDEO_EXPIRY_FAILED
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class ClipObserved:
    """What one tick read: the loop's facts and outcome, the object as last seen and the status last
    written, its clipper from the pod index, its stream from the stream index, the clipper's /status,
    the quota (looked at only while no clipper runs and the Clip is not done), and what the deletions
    the last tick asked for did."""

    facts: LoopFacts
    outcome: ClipOutcome | None
    body: Mapping[str, Any]
    written: Manifest
    pod: PodObservation | None = None
    stream: StreamFacts | None = None
    telemetry: ClipperStatus | None = None
    quota: QuotaUse | None = None
    quota_checked: bool = False  # no clipper, not final: the quota was looked at
    videos_deleted: tuple[Deleted, ...] = ()

    @property
    def quota_full(self) -> bool:
        return self.quota is not None and self.quota.level == "full"


@dataclass(frozen=True)
class ClipMemory:
    """What the loop decided before: the status's inputs last written, whether the quota was full
    (and how, what every reconcile is told), the stream's client fields on Events, the retention."""

    status_inputs: object = None
    quota_full: bool = False
    no_space: str | None = None
    client_fields: ClientFields | None = None
    videos: Retention = field(default_factory=Retention)


def quota(observed: ClipObserved, memory: ClipMemory) -> tuple[bool, ClipMemory]:
    """Whether the quota turned (filled up, or space came back) before the clipper started, and the
    hint every reconcile gets: how full it is (none while there is room, or once it was looked at no
    more)."""
    if not observed.quota_checked:
        return False, memory
    no_space = observed.quota.describe() if observed.quota_full and observed.quota else None
    turned = observed.quota_full != memory.quota_full
    return turned, replace(memory, quota_full=observed.quota_full, no_space=no_space)


def clip_update(
    observed: ClipObserved, outcome: ClipOutcome, memory: ClipMemory
) -> tuple[Manifest, list[Transition], bool]:
    """The new status, its Events, and whether it is final."""
    raw, now = with_status(observed.body, observed.written), observed.facts.stamp
    clip = None if outcome.invalid_spec else validated(Clip, raw)
    if clip is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", now, ClipStatus).wire(), [], False
    previous = validated(ClipStatus, raw["status"]) if raw["status"] else None
    pod = observed.pod or PodObservation(name=clipper_pod_name(observed.facts.name))
    observation = replace(
        ClipperObservation.observe(pod, observed.telemetry, observed.stream, outcome.generation),
        refused=outcome.refused,
        storage=outcome.storage,
        storage_refused=outcome.storage_refused,
        expired=memory.videos.deleted(),
    )
    status = clip_status(clip, observation, now)
    return status.wire(), clip_events(previous, status), is_final(status)


def retention(observed: ClipObserved, memory: ClipMemory) -> tuple[list[object], ClipMemory]:
    """What the deletions did, and the stored video to delete now (over the status last written)."""
    facts, kept = observed.facts, memory.videos
    actions: list[object] = []
    for result in observed.videos_deleted:
        events, kept = after_deletion(kept, result, facts.stamp, VIDEO_EXPIRY_FAILED)
        actions += events
    written = validated(ClipStatus, observed.written)
    if written is not None:
        delete, kept = videos_to_delete(
            kept, facts.settings, facts.monotonic, facts.now, written.storage, written.videos
        )
        actions += [delete] if delete is not None else []
    return actions, replace(memory, videos=kept)


def status(observed: ClipObserved, outcome: ClipOutcome, memory: ClipMemory) -> tuple[list[Action], ClipMemory]:
    """The status when what it is made of changed; once final, the reconcile that removes the clipper."""
    facts, pod = observed.facts, observed.pod
    expired = tuple(memory.videos.expired)
    inputs = (facts.generation, outcome, pod, observed.telemetry, observed.stream, expired)
    if not status_due(facts, inputs, memory.status_inputs):
        return [], memory
    new, events, final = clip_update(observed, outcome, memory)
    actions: list[Action] = [WriteStatus(new, tuple(events), inputs)]
    if final and pod is not None:
        actions.append(Reconcile.of({"no_space": memory.no_space, "final": True}))  # the clipper Pod can go
    return actions, replace(memory, status_inputs=inputs)


def decide(observed: ClipObserved, memory: ClipMemory) -> tuple[list[object], ClipMemory]:
    facts, outcome = observed.facts, observed.outcome
    actions: list[object] = [*lost_pods(facts, [observed.pod])]
    turned, memory = quota(observed, memory)
    deletions, memory = retention(observed, memory)
    moved = outcome is not None and stream_moved(observed.stream, outcome)
    if facts.reconcile_due or turned or moved:
        return [*actions, *deletions, Reconcile.of({"no_space": memory.no_space}), wake(facts, [observed.pod])], memory
    if outcome is None:
        return [*actions, *deletions, wake(facts, [observed.pod])], memory
    carried, fields = client_fields(observed.stream, memory.client_fields)
    actions += [*carried, *secret_retry(outcome)]
    written, memory = status(observed, outcome, replace(memory, client_fields=fields))
    return [*actions, *deletions, *written, wake(facts, [observed.pod])], memory
