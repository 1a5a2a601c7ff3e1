"""What a Clip's reconcile wants, decided from the Clip, the quota and what observe.py read: pure,
no API call (docs/design/reconcile-plan.md). plan_clipper() decides the refusals before any Pod,
whether the clipper goes or runs, the default claim, and what the outcome says; wanted_pod() builds
the clipper once apply.py has its host port (the allocator is a side effect)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from streamops.api import Clip, LiveStream
from streamops.api.clip import MAX_FUTURE_END_SECONDS
from streamops.api.recording import RecordingStorage
from streamops.control.clip import reasons
from streamops.control.clip.observation import Observed
from streamops.control.clip.specs.pod import clipper_pod
from streamops.control.clip.specs.time_range import clip_range, created_at
from streamops.control.clip.specs.worker_config import rendition_problem
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storage_quota import NO_SPACE_MESSAGE
from streamops.control.storage.video_storage import StorageRefusal
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Refused:
    """The Clip cannot be made: why (a reason of reasons.REFUSALS) and what to do about it."""

    reason: str
    message: str


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


@dataclass(frozen=True)
class Plan:
    """What the reconcile wants, before any write; the last fields are what the outcome says."""

    clip: Clip
    remove: bool = False  # the clipper goes (the final status is written, or its storage is refused)
    create_claim: bool = False  # the default claim, before the clipper (a create when missing)
    clipper: bool = False  # the clipper runs
    stream: LiveStream | None = None  # the stream the clipper is built for
    waiting_for_stream: bool = False  # the stream (or its ingest ports) is missing
    refused: Refused | None = None
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None


def plan_clipper(clip: Clip, observed: Observed, final: bool, no_space: str | None = None) -> Plan:
    """Pure. `final`: the final status is written (or just was); `no_space`: the quota is full, how
    full (a Clip with no clipper yet is refused, as a Recording gets no recorder)."""
    current, stream, storage = observed.clipper, observed.stream, observed.storage
    if final:
        return Plan(clip, remove=True)
    if stream is None or storage is None:
        return Plan(clip, waiting_for_stream=True)
    refused = refusal(clip, stream)
    if refused is None and current is None and no_space:
        refused = Refused(reasons.NO_SPACE, f"{NO_SPACE_MESSAGE}: {no_space}")
    if refused is not None:
        return Plan(clip, stream=stream, refused=refused)
    with_storage = Plan(clip, stream=stream, storage=storage)
    unusable = observed.storage_refused
    if unusable is not None and (current is None or unusable.by_policy):
        # A clipper the policy refuses goes (see plan_recorder).
        return replace(with_storage, remove=True, storage_refused=unusable)
    if observed.host_network and observed.ingest_ports is None:
        # The stream has not got its ports yet: come back when it has (the outcome names no stream).
        return Plan(clip, create_claim=current is None, waiting_for_stream=True, storage=storage)
    return replace(with_storage, create_claim=current is None, clipper=True)


# --- the second phase: what depends on a side effect -------------------------------------------


def wanted_pod(
    plan: Plan, settings: OperatorSettings, observed: Observed, host_ports: dict[str, int] | None
) -> Manifest:
    """The clipper Pod; `host_ports`: its own, as kept or allocated."""
    assert plan.stream is not None, "a clipper is planned for a stream"
    return clipper_pod(plan.clip, plan.stream, settings, observed.ingest_ports, host_ports)
