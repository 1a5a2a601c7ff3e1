"""A Recording's decide (pure, runtime/decisions.py): an ordered chain of small policies over what the
tick observed (loop_observe.py) and what the loop decided before (RecordingMemory).

1. a recorder Pod lost with its node: one force-delete;
2. a reconcile, when due, when the stream it waits for appeared (or was replaced), when the quota
   turned before a recorder started, when a recorder that waited for its restart is idle, or when
   the originals' retention asks one (origin_expiry.py): its outcome is the next tick's, at once;
3. the recorder Pods it replaced, one Event each per reconcile; the stream's client fields on Events;
   a missing storage Secret looked for again soon;
4. the recorder's commands: POST /start to an adopted standby that waits (at most every
   START_AGAIN_SECONDS), POST /stop once per Pod (spec.stopped, or the quota is full); during a
   handover of the recorder (handover.py) its step instead;
5. retention: the videos past deleteAfterDays (a DeleteVideos action), the originals past deleteAt;
6. the status, when what it is made of changed (in a handover: the successor's telemetry once it
   runs the Recording), with its Events; once it is final (stopped, every video finalised), a
   reconcile that removes the recorder Pod;
7. the wake."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streamops.api import Recording, RecordingStatus
from streamops.contract.recorder import RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.recording.handover import RecorderPair, recorder_handover
from streamops.control.recording.origin_expiry import Origins, OriginsDecided, expire_origins
from streamops.control.recording.outcome import RecordingOutcome
from streamops.control.recording.reasons import RECORDER_CANNOT_MOVE
from streamops.control.recording.specs.names import recorder_pod_name
from streamops.control.recording.status import SUCCEEDED, RecorderObservation, recording_events, recording_status
from streamops.control.runtime.decisions import (
    Action,
    LoopFacts,
    PostEvent,
    Reconcile,
    WorkerRequest,
    WriteStatus,
    invalid_spec_status,
    lost_pods,
    replaced_events,
    status_due,
    validated,
    wake,
    with_status,
)
from streamops.control.runtime.handover_steps import HandoverMemory
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.storage.retention_policy import (
    Deleted,
    Retention,
    after_deletion,
    expired_keys,
    videos_to_delete,
)
from streamops.control.storage.storage_quota import QuotaUse
from streamops.control.storage.storing_decide import ClientFields, client_fields, secret_retry, stream_moved
from streamops.control.storage.video_expiry import VIDEO_EXPIRY_FAILED
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Manifest

START_AGAIN_SECONDS = 2.0  # a standby that still waits after a POST /start is sent it again
NEVER = float("-inf")


@dataclass(frozen=True)
class RecordingObserved:
    """What one tick read: the loop's facts and outcome, the object as last seen and the status last
    written, its Pods from the pod index (the recorder, the stream's standby, the origin expiry Pod),
    the stream from the stream index, the recorder's /status, the quota, and what the deletions the
    last tick asked for did."""

    facts: LoopFacts
    outcome: RecordingOutcome | None
    body: Mapping[str, Any]
    written: Manifest
    pod: PodObservation | None = None
    standby: PodObservation | None = None
    expiring: PodObservation | None = None
    stream: StreamFacts | None = None
    telemetry: RecorderStatus | None = None
    quota: QuotaUse | None = None
    videos_deleted: tuple[Deleted, ...] = ()
    origins_deleted: tuple[Deleted, ...] = ()
    videos_claim: str = ""  # the claim the edge serves (recordings_claim.videos_claim; empty: none)
    successor: PodObservation | None = None  # in a handover (handover.py): the successor Pod
    successor_telemetry: RecorderStatus | None = None  # ... and its /status

    @property
    def pair(self) -> RecorderPair | None:
        if self.pod is None or self.successor is None:
            return None
        return RecorderPair(self.pod, self.successor, self.telemetry, self.successor_telemetry)

    @property
    def shown(self) -> RecorderStatus | None:
        """What the status is made of: in a handover, the successor's once it runs the Recording."""
        pair = self.pair
        return pair.telemetry if pair is not None else self.telemetry

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.body.get("spec") or {}

    @property
    def stream_ref(self) -> str:
        return str((self.spec.get("streamRef") or {}).get("name") or "")

    @property
    def stopped(self) -> bool:
        return bool(self.spec.get("stopped"))

    @property
    def quota_full(self) -> bool:
        return self.quota is not None and self.quota.level == "full"


@dataclass(frozen=True)
class RecordingMemory:
    """What the loop decided before: the status's inputs last written, the reconcile whose replaced
    Pods were announced, whether the quota was full, the stream's client fields on Events, when POST
    /start was last sent and the Pod POST /stop was sent to, the videos' and the originals' retention."""

    status_inputs: object = None
    announced: int = 0
    quota_full: bool = False
    client_fields: ClientFields | None = None
    start_sent_at: float = NEVER
    stop_sent_to: str = ""
    videos: Retention = field(default_factory=Retention)
    origins: Origins = field(default_factory=Origins)
    handover: HandoverMemory = field(default_factory=HandoverMemory)
    cannot_move: str = ""  # the RecorderCannotMove message last said (said again only once it changed)


def hints(observed: RecordingObserved) -> dict[str, str | bool | None]:
    """What every reconcile is told from the indexes."""
    pod, standby = observed.pod, observed.standby
    return {
        "recorder": pod.name if pod else None,
        "standby": standby.name if standby else None,
        "quota_full": observed.quota_full,
    }


def _reconcile(observed: RecordingObserved, memory: RecordingMemory, asked: OriginsDecided) -> bool:
    """Whether this tick reconciles (the rest waits for its outcome, the next tick's)."""
    outcome, telemetry = observed.outcome, observed.telemetry
    if observed.facts.reconcile_due or asked.reconcile:
        return True
    if observed.quota_full != memory.quota_full and observed.pod is None:
        return True  # space came back (or ran out) before the recorder started
    if outcome is None:
        return False
    if stream_moved(observed.stream, outcome):
        return True
    # The recorder that waited for its restart is idle now, or a held handover may be tried again.
    change = outcome.pod_change
    if change.action == "handover" and change.retry_at is not None:
        return observed.facts.now >= change.retry_at
    return change.action == "wait" and telemetry is not None and telemetry.state != "recording"


def restart_pending(outcome: RecordingOutcome) -> bool:
    """A change waits: for an idle recorder, or for the next try of a failed handover."""
    change = outcome.pod_change
    return change.action == "wait" or (change.action == "handover" and change.retry_at is not None)


def commands(observed: RecordingObserved, memory: RecordingMemory) -> tuple[list[object], RecordingMemory]:
    """POST /start to an adopted standby (or one that restarted since) that waits; POST /stop once per
    Pod when spec.stopped or the quota is full: the recorder finalises and keeps serving /status."""
    pod, telemetry, outcome, facts = observed.pod, observed.telemetry, observed.outcome, observed.facts
    pair = observed.pair
    if pair is not None and outcome is not None:
        config = outcome.handover_config
        actions, _, handover = recorder_handover(
            pair, config, observed.stream_ref, facts.now, facts.monotonic, facts.in_flight, memory.handover
        )
        return list(actions), replace(memory, handover=handover)
    if pod is None or telemetry is None or outcome is None:
        return [], memory
    requests: list[object] = []
    waiting = telemetry.state == "standby"
    start_due = facts.monotonic - memory.start_sent_at > START_AGAIN_SECONDS
    config = outcome.start_config
    # (A slot with a request in flight sends none: the next tick decides again.)
    start_free, stop_free = "start" not in facts.in_flight, "stop" not in facts.in_flight
    if waiting and config is not None and not observed.stopped and start_due and not observed.quota_full and start_free:
        body = json.dumps(config.wire()).encode()
        requests.append(WorkerRequest(pod, "POST", START_PATH, observed.stream_ref, "start", body))
        memory = replace(memory, start_sent_at=facts.monotonic)
    finalise = observed.stopped or (observed.quota_full and not waiting)
    if finalise and telemetry.state != "stopped" and memory.stop_sent_to != pod.uid and stop_free:
        requests.append(WorkerRequest(pod, "POST", STOP_PATH, observed.stream_ref, "stop"))
        memory = replace(memory, stop_sent_to=pod.uid)
    return requests, memory


def retention(
    observed: RecordingObserved, memory: RecordingMemory
) -> tuple[list[object], OriginsDecided, RecordingMemory]:
    """What the deletions did, the videos to delete now, and the originals' policy (its reconcile
    asked, if any, is the caller's)."""
    facts = observed.facts
    written = validated(RecordingStatus, observed.written)
    storage, videos = (written.storage, written.videos) if written is not None else (None, [])
    actions: list[object] = []
    kept = memory.videos
    for result in observed.videos_deleted:
        events, kept = after_deletion(kept, result, facts.stamp, VIDEO_EXPIRY_FAILED)
        actions += events
    if written is not None:
        delete, kept = videos_to_delete(kept, facts.settings, facts.monotonic, facts.now, storage, videos)
        actions += [delete] if delete is not None else []
    ended = observed.outcome.origin_expiry_ended if observed.outcome is not None else None
    origins, origin_memory = memory.origins, memory.origins
    asked = OriginsDecided()
    if written is not None:
        asked, origin_memory = expire_origins(
            origins, facts, ended, observed.origins_deleted, observed.expiring, storage, videos
        )
    actions += [*asked.events, *([asked.delete] if asked.delete else [])]
    return actions, asked, replace(memory, videos=kept, origins=origin_memory)


def recording_update(
    observed: RecordingObserved, outcome: RecordingOutcome, memory: RecordingMemory
) -> tuple[Manifest, list[Any], bool]:
    """The new status, its Events, and whether it is final."""
    raw, now = with_status(observed.body, observed.written), observed.facts.stamp
    recording = None if outcome.invalid_spec else validated(Recording, raw)
    if recording is None:
        return invalid_spec_status(raw, outcome.invalid_spec or "", now, RecordingStatus).wire(), [], False
    previous = validated(RecordingStatus, raw["status"]) if raw["status"] else None
    pod = observed.pod or PodObservation(name=recorder_pod_name(observed.facts.name))
    refused = outcome.storage_refused  # (a missing Secret does not stop a recorder that runs; the policy does)
    observation = replace(
        RecorderObservation.observe(pod, observed.shown, observed.stream, outcome.generation),
        restart_pending=outcome.pod_change.part if restart_pending(outcome) else None,
        storage=outcome.storage,
        storage_refused=refused if refused is not None and (refused.by_policy or not pod.exists) else None,
        quota=observed.quota,
        quota_refused=outcome.no_space and not pod.exists,
        expired=expired_keys(memory.videos, memory.origins.retention),
        videos_url=observed.facts.settings.recordings.videos_url,
        videos_claim=observed.videos_claim,
    )
    status = recording_status(recording, observation, now)
    final = status.condition(SUCCEEDED) is not None
    return status.wire(), recording_events(previous, status), final


def status(
    observed: RecordingObserved, outcome: RecordingOutcome, memory: RecordingMemory
) -> tuple[list[Action], RecordingMemory]:
    """The status when what it is made of changed; once final, the reconcile that removes the recorder."""
    facts, pod = observed.facts, observed.pod
    stuck = bool(pod and pod.storage_stuck(facts.stamp))  # (said once STORAGE_WAIT_SECONDS have passed)
    expired = tuple(expired_keys(memory.videos, memory.origins.retention).items())
    inputs = (facts.generation, outcome, pod, observed.shown, observed.stream, stuck, observed.quota, expired)
    if not status_due(facts, inputs, memory.status_inputs):
        return [], memory
    new, events, final = recording_update(observed, outcome, memory)
    actions: list[Action] = [WriteStatus(new, tuple(events), inputs)]
    if observed.stopped and pod is not None and final:
        actions.append(Reconcile.of(hints(observed)))  # final status written: the recorder Pod can go
    return actions, replace(memory, status_inputs=inputs)


def decide(observed: RecordingObserved, memory: RecordingMemory) -> tuple[list[object], RecordingMemory]:
    facts, outcome = observed.facts, observed.outcome
    actions: list[object] = [*lost_pods(facts, [observed.pod])]
    if outcome is not None and memory.announced != facts.reconciles:
        # Said before a reconcile due at once (the replaced Pod's DELETED event asks for one) passes over it.
        actions += replaced_events({"recorder": (recorder_pod_name(facts.name), outcome.pod_change)})
        memory = replace(memory, announced=facts.reconciles)
    if outcome is not None and (outcome.cannot_move or "") != memory.cannot_move:
        actions += [PostEvent("Warning", RECORDER_CANNOT_MOVE, outcome.cannot_move)] if outcome.cannot_move else []
        memory = replace(memory, cannot_move=outcome.cannot_move or "")
    deletions, asked, memory = retention(observed, memory)
    if _reconcile(observed, memory, asked):
        memory = replace(memory, quota_full=observed.quota_full)
        one_off = dict(asked.reconcile)
        return [*actions, *deletions, Reconcile.of({**hints(observed), **one_off}), wake(facts, [observed.pod])], memory
    memory = replace(memory, quota_full=observed.quota_full)
    if outcome is None:
        return [*actions, *deletions, wake(facts, [observed.pod])], memory
    carried, fields = client_fields(observed.stream, memory.client_fields)
    actions += [*carried, *secret_retry(outcome)]
    requests, memory = commands(observed, replace(memory, client_fields=fields))
    written, memory = status(observed, outcome, memory)
    return [*actions, *requests, *deletions, *written, wake(facts, [observed.pod])], memory
