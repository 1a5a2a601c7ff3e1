"""Reconcile one Clip: the checks that refuse it before any Pod (its stream, DVR, range and
rendition; the recordings quota; its storage's Secrets, present and labelled for use by specs), then
the recordings claim and the clipper Pod, which exists until the Clip's final status is written.
Status is written by the status loop."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import Clip, LiveStream
from streamops.api.clip import MAX_FUTURE_END_SECONDS
from streamops.api.recording import RecordingStorage
from streamops.control.clip import reasons
from streamops.control.clip.specs.names import clipper_pod_name
from streamops.control.clip.specs.pod import clipper_pod
from streamops.control.clip.specs.time_range import clip_range, created_at
from streamops.control.clip.specs.worker_config import rendition_problem, resolved_storage
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse, read_stream
from streamops.control.storage.recordings_claim import ensure_recordings_claim
from streamops.control.storage.storage_quota import NO_SPACE_MESSAGE
from streamops.control.storage.video_storage import StorageRefusal, storage_secrets_refusal
from streamops.control.workers.children import ensure_pod, remove_pod
from streamops.control.workers.ingest_address import allocated_ingest_ports
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.kube.client import KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body


@dataclass(frozen=True)
class Refused:
    """The Clip cannot be made: why (a reason of reasons.REFUSALS) and what to do about it."""

    reason: str
    message: str


@dataclass(frozen=True)
class ClipOutcome:
    generation: int | None
    invalid_spec: str | None = None
    waiting_for_stream: bool = False  # no Pod: the stream (or its ingest ports) is missing
    stream_uid: str | None = None
    refused: Refused | None = None  # no Pod: the Clip is refused before any cut
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None  # no Pod: a Secret of the storage is missing (or refused)


def final_in_status(raw: Body) -> bool:
    """Succeeded is True or False (stored, refused or failed): the Clip is done for good."""
    conditions = (raw.get("status") or {}).get("conditions") or []
    return any(c.get("type") == reasons.SUCCEEDED and c.get("status") in ("True", "False") for c in conditions)


def refusal(clip: Clip, stream: LiveStream) -> Refused | None:
    """What the spec and the stream's spec alone refuse (the clipper checks the DVR it reads)."""
    name = stream.metadata.name
    if not stream.spec.dvr.enabled:
        return Refused(reasons.NO_DVR, f"LiveStream {name} keeps no DVR window (dvr.enabled is false): nothing to clip")
    span, created = clip_range(clip), created_at(clip)
    ahead = (span.end - created).total_seconds()
    if ahead > MAX_FUTURE_END_SECONDS:
        return Refused(
            reasons.END_TOO_FAR_IN_FUTURE,
            f"the end is {ahead:.0f} s after the Clip's creation; at most {MAX_FUTURE_END_SECONDS} s is waited for "
            "(record the stream with a Recording instead)",
        )
    window = stream.spec.dvr.duration_seconds
    if (created - span.start).total_seconds() > window:
        return Refused(
            reasons.OUTSIDE_DVR_WINDOW,
            f"the start {span.start.isoformat()} is older than LiveStream {name}'s DVR window ({window} s) holds",
        )
    problem = rendition_problem(clip, stream)
    return Refused(reasons.CLIP_FAILED, problem) if problem else None


def reconcile_clip(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    final: bool | None = None,
    no_space: str | None = None,
) -> ClipOutcome:
    """Idempotent. Once the final status is written the Pod goes (the video stays); `final`: the
    loop has just written it (the body it hands over may not show it yet). `no_space` (from the
    status loop's quota check, storage_quota.py): the quota is full, how full; a Clip with no
    clipper yet is refused (NoSpace, the hosted platform's words), as a Recording gets no recorder."""
    parsed = parse(Clip, body)
    raw, generation, clip = parsed.raw, parsed.generation, parsed.obj
    if clip is None:
        return ClipOutcome(generation, invalid_spec=parsed.problem)
    namespace, uid = clip.metadata.namespace or "", clip.metadata.uid
    current = api.get("Pod", namespace, clipper_pod_name(clip.metadata.name))
    try:
        if final or final_in_status(raw):
            remove_pod(api, current, uid, allocator)
            return ClipOutcome(generation)
        stream = read_stream(api, namespace, clip.spec.stream_ref.name)
        if stream is None:
            return ClipOutcome(generation, waiting_for_stream=True)
        refused = refusal(clip, stream)
        if refused is None and current is None and no_space:
            refused = Refused(reasons.NO_SPACE, f"{NO_SPACE_MESSAGE}: {no_space}")
        if refused is not None:
            return ClipOutcome(generation, stream_uid=stream.metadata.uid, refused=refused)
        storage = resolved_storage(clip, stream, settings)
        unusable = storage_secrets_refusal(api, namespace, storage.s3, settings) if storage.s3 is not None else None
        if unusable is not None and (current is None or unusable.by_policy):
            remove_pod(api, current, uid, allocator)  # (a clipper the policy refuses goes: see reconcile_recording)
            return ClipOutcome(generation, stream_uid=stream.metadata.uid, storage=storage, storage_refused=unusable)
        if current is None:
            ensure_recordings_claim(api, namespace, storage, settings)
        ingest_ports = host_ports = None
        if allocator is not None:
            ingest_ports = allocated_ingest_ports(api, stream)
            if ingest_ports is None:  # the stream has not got its ports yet: come back when it has
                return ClipOutcome(generation, waiting_for_stream=True, storage=storage)
            host_ports = ports_of(current) or allocator.allocate(["http"])
        ensure_pod(api, clipper_pod(clip, stream, settings, ingest_ports, host_ports), current, uid)
        return ClipOutcome(generation, stream_uid=stream.metadata.uid, storage=storage)
    except NamespaceTerminating:
        return ClipOutcome(generation)
