"""What a Recording's reconcile wants, decided from the Recording, the settings and what observe.py
read: pure, no API call (docs/design/reconcile-plan.md). plan_recorder() decides whether the
recorder goes or runs, the default claim, the standby to adopt, and what the outcome says;
plan_origin_expiry() the origin expiry Pod (keepOrigin on a claim: made when the status loop finds
originals due, removed once it has ended); the functions below them build what depends on a write's
answer (the standby adopted or not, the host port the allocator gave), and apply.py calls them at
that point."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from streamops.api import LiveStream, Recording
from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import CONFIG_ENV, RECORDINGS_ROOT, RecorderConfig, StandbyConfig
from streamops.contract.worker import HTTP_PORT, iso
from streamops.contract.worker_credential import CREDENTIAL_FILE
from streamops.control.recording.observation import Observed
from streamops.control.recording.outcome import ExpiryPodEnded
from streamops.control.recording.specs.origin_expiry_pod import expiry_config, origin_expiry_pod, pod_origins
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.recordings_claim import SHARED_ACCESS_MODES, on_default_claim, recordings_claim_name
from streamops.control.storage.storing_plan import claim_wanted, followed, storage_refusal, waiting_for_ports
from streamops.control.storage.video_expiry import origin_expiry_due
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import ports_of
from streamops.control.workers.restarts import RestartPolicy, restart_policy
from streamops.control.workers.successor_pod import Successor
from streamops.control.workers.worker_budget import held_pods, worker_budget
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    ADOPTED_ANNOTATION,
    COMPONENT_LABEL,
    IMMEDIATE,
    INSTANCE_LABEL,
    RECORDING_LABEL,
    RESTARTS_ANNOTATION,
)


@dataclass(frozen=True)
class Plan:
    """What the reconcile wants, before any write; the last fields are what the outcome says."""

    recording: Recording
    remove: bool = False  # the recorder goes (nothing left to finalise, or its storage is refused)
    create_claim: bool = False  # the default claim, before a first recorder (a create when missing)
    recorder: bool = False  # a recorder runs: an adopted standby, or its own Pod
    adopt: str | None = None  # the stream's standby recorder to adopt first (it may be taken)
    busy: bool = False  # the recorder records (status.recording): a change that can wait waits
    immediate: bool = False  # the owner asks for a pending restart now (restarts.py)
    handover: bool = False  # a busy recorder that must change is handed over (the restart policy handover)
    # It can also leave its node by a handover (its claim is mounted on any node): a PodDisruptionBudget
    # holds it, and its node cordoned is a reason to hand it over (workers/drain.py).
    movable: bool = False
    cannot_move: str | None = None  # its node is cordoned, it records, and it cannot be handed over: why
    stream: LiveStream | None = None  # the stream the recorder is built for
    waiting_for_stream: bool = False  # the stream (or its ingest ports) is missing
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None
    no_space: bool = False  # the quota was full before a recorder started


def recorder_default(policy: RestartPolicy) -> RestartPolicy:
    """What the operator's restart policy means for a Recording without an annotation of its own."""
    return "idle" if policy == "handover" else policy


def plan_recorder(
    recording: Recording,
    recordings: RecordingsSettings,
    observed: Observed,
    finalised: bool,
    standby: str | None = None,
    quota_full: bool | None = None,
    policy: RestartPolicy = "idle",
) -> Plan:
    """Pure. `finalised`: the Recording's status says Succeeded (its videos are final); `standby`:
    the stream's warm recorder Pod, when the pod index has one; `quota_full`: the status loop's
    quota check (a Recording with no recorder yet gets none); `policy`: the operator's restart
    policy (the Recording's annotation overrides it). Only a recorder on a claim that two Pods can
    mount is handed over: with object storage its parts are on its own scratch space, which a
    successor cannot join; a ReadWriteOncePod claim admits no second Pod."""
    current = observed.worker
    base = Plan(
        recording,
        busy=bool(recording.status and recording.status.recording),
        immediate=recording.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE,
    )
    if recording.spec.stopped:
        running = bool(current and (current.get("status") or {}).get("phase") == "Running")
        # Nothing left to finalise (or no recorder that could): the Pod goes, the videos stay.
        return replace(base, remove=finalised or not running)
    found = followed(observed)
    if found is None:
        return replace(base, waiting_for_stream=True)
    stream, storage = found.stream, found.storage
    with_stream = replace(base, stream=stream, storage=storage)
    if current is None and quota_full:
        return replace(with_stream, no_space=True)
    refused = storage_refusal(observed)
    if refused is not None:
        return replace(with_stream, remove=True, storage_refused=refused)
    create_claim = claim_wanted(observed)
    if waiting_for_ports(observed):
        return replace(base, create_claim=create_claim, waiting_for_stream=True, storage=storage)
    # A standby writes to the default claim: only a Recording that does too adopts it.
    adoptable = current is None and on_default_claim(storage, recordings) and stream.spec.recording.standby
    adopt = standby if standby and adoptable else None
    # A recorder is handed over only when its Recording asks (the annotation handover): under the
    # operator's policy handover a busy recorder waits for idle, because a Recording stopped during
    # a recorder's handover ended with no video on the 2-node cluster (handover.md, Part 5).
    chosen = restart_policy(recording.metadata.annotations.get(RESTARTS_ANNOTATION), recorder_default(policy))
    # ReadWriteOncePod admits one Pod: a successor could not mount the claim beside its predecessor.
    modes = observed.claim_access_modes or (recordings.access_mode,)
    one_pod = "ReadWriteOncePod" in modes
    handover = chosen == "handover" and storage.s3 is None and not one_pod
    # Only a claim that many nodes mount lets the successor leave the node (a ReadWriteOnce one keeps
    # every recorder of it on its node: claim_affinity).
    movable = handover and bool(SHARED_ACCESS_MODES & set(modes)) and observed.room
    cannot_move = None
    if observed.drain is not None and not movable and base.busy:
        why = _unmovable(chosen, storage, modes, recordings)
        cannot_move = (
            f"{observed.drain}, but the recorder cannot be handed over to another node: {why}; a drain evicts it"
        )
    return replace(
        with_stream,
        create_claim=create_claim,
        recorder=True,
        adopt=adopt,
        handover=handover,
        movable=movable,
        cannot_move=cannot_move,
    )


def _unmovable(
    chosen: RestartPolicy, storage: RecordingStorage, modes: tuple[str, ...], recordings: RecordingsSettings
) -> str:
    """Why a recorder whose node is cordoned is not handed over off it (the drain evicts it)."""
    if chosen != "handover":
        return f"its restart policy is {chosen}"
    if storage.s3 is not None:
        return "it keeps its parts on its Pod's own scratch space until they are uploaded"
    if not SHARED_ACCESS_MODES & set(modes):
        claim = recordings_claim_name(storage, recordings)
        return f"its claim {claim} is {'/'.join(modes)} (only its node mounts it)"
    return "no other node takes Pods"


@dataclass(frozen=True)
class OriginExpiryPlan:
    """The origin expiry Pod to create (the originals on the claim that are due), or the ended one
    to remove; nothing when the status loop asked for neither."""

    create: Manifest | None = None
    remove: ExpiryPodEnded | None = None

    @property
    def originals(self) -> int:
        """How many originals the Pod to create deletes."""
        if self.create is None:
            return 0
        return len(pod_origins(self.create["metadata"]["annotations"]))


def _ended(pod: Manifest) -> ExpiryPodEnded | None:
    meta, status = pod["metadata"], pod.get("status") or {}
    phase = status.get("phase")
    if phase not in ("Succeeded", "Failed") or meta.get("deletionTimestamp"):
        return None  # running or pending: its end wakes the status loop
    origins = tuple(pod_origins(meta.get("annotations") or {}))
    detail = PodObservation.of(meta["name"], pod).detail  # (as the pod index tells it)
    return ExpiryPodEnded(meta["name"], meta.get("uid") or "", phase == "Succeeded", origins, detail)


def plan_origin_expiry(
    recording: Recording, settings: OperatorSettings, observed: Observed, now: datetime
) -> OriginExpiryPlan:
    """Pure. An ended Pod goes (what it did is the outcome's); a new one deletes the originals on
    the claim (the status's storage) past their deleteAt at `now`, at most ORIGINS_MAX."""
    asked = observed.origin_expiry
    if asked is None:
        return OriginExpiryPlan()
    if asked.pod is not None:
        return OriginExpiryPlan(remove=_ended(asked.pod))
    status, uid = recording.status, recording.metadata.uid
    storage = status.storage if status is not None else None
    if status is None or storage is None or storage.s3 is not None or not uid:
        return OriginExpiryPlan()
    config = expiry_config(origin_expiry_due(status.videos, now), iso(now))
    if not config.origins:
        return OriginExpiryPlan()
    name, namespace = recording.metadata.name, recording.metadata.namespace or ""
    stream = recording.spec.stream_ref.name
    modes = asked.claim_access_modes
    return OriginExpiryPlan(create=origin_expiry_pod(name, namespace, uid, stream, storage, config, settings, modes))


# --- the second phase: what depends on a write's answer -----------------------------------------


def adopted(pod: Manifest | None) -> bool:
    """The recorder is an adopted standby: it is configured by POST /start, never rolled."""
    return pod is not None and ADOPTED_ANNOTATION in (pod["metadata"].get("annotations") or {})


def start_config(plan: Plan, settings: OperatorSettings, observed: Observed, pod: Manifest) -> RecorderConfig:
    """What an adopted standby is sent by POST /start: the Recording's configuration on the port
    the standby listens on."""
    assert plan.stream is not None, "a recorder is planned for a stream"
    http_port = ports_of(pod).get("http", HTTP_PORT)
    return recorder_config(plan.recording, plan.stream, settings, observed.ingest_ports, http_port)


def wanted_pod(
    plan: Plan, settings: OperatorSettings, observed: Observed, host_ports: dict[str, int] | None
) -> Manifest:
    """The Recording's own recorder Pod; `host_ports`: its own, as kept or allocated."""
    assert plan.stream is not None, "a recorder is planned for a stream"
    return recorder_pod(
        plan.recording, plan.stream, settings, observed.ingest_ports, host_ports, observed.claim_access_modes
    )


def standby_config(settings: OperatorSettings, host_ports: dict[str, int] | None = None) -> str:
    """What a successor recorder runs with until POST /start: a warm recorder's configuration (on
    the host network: on its own host port)."""
    return StandbyConfig(
        standby=True,
        recordings_root=RECORDINGS_ROOT,
        http_host=settings.worker.bind_address,
        http_port=(host_ports or {}).get("http", HTTP_PORT),
        credential_file=CREDENTIAL_FILE,
    ).to_json()


def as_standby(successor: Successor, standby: str) -> Successor:
    """A recorder's successor runs as a warm recorder (`standby`: standby_config's) until POST /start
    brings the Recording's configuration, once its predecessor released the video; its other parts
    are the desired Pod's, so it is compared as the Recording's recorder from then on."""
    pod = successor.create
    if pod is None:
        return successor
    containers = [
        {**c, "env": [{**e, "value": standby} if e.get("name") == CONFIG_ENV else e for e in c.get("env") or []]}
        for c in pod["spec"]["containers"]
    ]
    return replace(successor, create={**pod, "spec": {**pod["spec"], "containers": containers}})


def wanted_budget(
    plan: Plan, pod: Manifest, pods: Sequence[Manifest | None], slots: tuple[str, str]
) -> Manifest | None:
    """The recorder's PodDisruptionBudget while it can be handed over to another node (None: an owned
    one goes, and a drain evicts the recorder as any Pod; with no budget a drain of a recorder that
    cannot move never waits for ever): named as its first slot, owned by the Recording as `pod` (the
    desired recorder), holding `pods` (its two slots after the writes)."""
    if not plan.movable:
        return None
    return worker_budget(pod, slots[0], (INSTANCE_LABEL, COMPONENT_LABEL, RECORDING_LABEL), held_pods(pods))
