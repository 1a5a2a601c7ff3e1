"""Clip status, computed only from what is observed: the reconcile's refusals, the clipper Pod,
the clipper's /status, and the status already written (a final one stays as it is: the clipper
Pod goes once it is written)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from streamops.api import Clip, ClipStatus
from streamops.api.common import ConditionStatus
from streamops.api.recording import RecordingStorage
from streamops.contract.clipper import ClipperStatus
from streamops.control.clip import reasons
from streamops.control.clip.plan import Refused
from streamops.control.runtime.follower import FollowerObservation
from streamops.control.shared.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Observed,
    Transition,
    condition_transitions,
    merge_conditions,
)
from streamops.control.storage.video_expiry import expiry_events, marked_expired
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.pod_observation import pod_problem_events, worker_pod_condition

SUCCEEDED = reasons.SUCCEEDED


@dataclass(frozen=True)
class ClipperObservation(FollowerObservation[ClipperStatus]):
    """The clipper Pod, its /status and the stream; what the reconcile found (a refusal, the
    resolved storage, a missing storage Secret); the videos retention just deleted."""

    refused: Refused | None = None
    storage: RecordingStorage | None = None
    storage_refused: StorageRefusal | None = None
    expired: Mapping[str, datetime] = field(default_factory=dict)  # video url -> deleted at


def is_final(status: ClipStatus) -> bool:
    succeeded = status.condition(SUCCEEDED)
    return succeeded is not None and succeeded.status in ("True", "False")


def _stalled(reason: str, message: str, succeeded: ConditionStatus = "False") -> list[Observed]:
    """Not Ready, Stalled: refused or failed (Succeeded False: final), or waiting for the user to
    create something (Unknown: its stream, a Secret of its storage)."""
    return [
        Observed(READY, "False", reason, message),
        Observed(SUCCEEDED, succeeded, reason, message),
        Observed(STALLED, "True", reason, message),
    ]


def _on_its_way(ready: Observed) -> list[Observed]:
    return [
        ready,
        Observed(SUCCEEDED, "Unknown", ready.reason, ready.message),
        Observed(RECONCILING, "True", ready.reason, ready.message),
    ]


def _stored(t: ClipperStatus) -> bool:
    return t.state == "succeeded" and t.video is not None and t.video.upload in (None, "uploaded")


def clip_status(clip: Clip, observed: ClipperObservation, now: datetime) -> ClipStatus:
    previous = clip.status or ClipStatus()
    generation = observed.acted_generation(clip.metadata.generation)
    if is_final(previous):  # only retention changes it still (deleteAfterDays, as a recording's video)
        videos = [marked_expired(v, v.expired_at, observed.expired) for v in previous.videos]
        return previous.model_copy(
            update={"observed_generation": previous.observed_generation or generation, "videos": videos}
        )
    t = observed.telemetry
    stream = clip.spec.stream_ref.name
    conditions: list[Observed]
    if observed.refused is not None:
        conditions = _stalled(observed.refused.reason, observed.refused.message)
    elif t is not None and t.state == "failed":
        conditions = _stalled(t.refusal or reasons.CLIP_FAILED, t.message or "the clip failed")
    elif t is not None and _stored(t):
        where = (t.video.url or t.video.path) if t.video else ""
        message = f"stored {t.video.duration_seconds if t.video else 0:.3f} s as {where}"
        conditions = [
            Observed(READY, "True", reasons.CLIPPED, message),
            Observed(SUCCEEDED, "True", reasons.CLIPPED, message),
        ]
    elif not observed.stream_exists and t is None:
        conditions = _stalled(reasons.STREAM_NOT_FOUND, f"LiveStream {stream} does not exist", "Unknown")
    elif observed.storage_refused is not None and (observed.storage_refused.by_policy or not observed.pod.exists):
        conditions = _stalled(observed.storage_refused.reason, observed.storage_refused.message, "Unknown")
    elif t is not None:
        reason = {"waiting": reasons.WAITING, "cutting": reasons.CUTTING}.get(t.state, reasons.STORING)
        message = t.message or reason
        if t.storage_problem:
            message = f"uploading the video: {t.storage_problem}: {t.storage_error or ''}".rstrip(": ")
        conditions = _on_its_way(Observed(READY, "False", reason, message))
    else:
        running = (reasons.CUTTING, f"clipper Pod {observed.pod.name} is starting")
        conditions = _on_its_way(worker_pod_condition(observed.pod, "clipper", reasons.CLIPPER_POD, running, now))

    video = t.video if t is not None and _stored(t) else None
    return ClipStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, conditions, generation, now),
        videos=[video] if video is not None else previous.videos,
        storage=observed.storage or previous.storage,
        started_at=(t.started_at if t is not None and t.started_at else previous.started_at),
        ended_at=(t.ended_at if t is not None and t.ended_at else previous.ended_at),
    )


def clip_events(previous: ClipStatus | None, current: ClipStatus) -> list[Transition]:
    """Ready and Stalled transitions (a refusal: its one Warning, Stalled with its reason; stored:
    Ready with Clipped), the clipper Pod's problems, and the video's expiry."""
    before = previous or ClipStatus()
    events = condition_transitions(before.conditions, current.conditions)
    events += pod_problem_events(before.conditions, current.conditions, reasons.CLIPPER_POD)
    return events + expiry_events(before.videos, current.videos, current.storage)
