"""Recording: records a live stream into video files (start_recording / stop_recording)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from streamops.api.common import (
    NAME_MAX,
    URL_MAX,
    Condition,
    ConditionedStatus,
    KubeModel,
    LocalObjectRef,
    cel,
    check_dot_segments,
    conditions_field,
    dot_segments_rule,
    validations,
)


class PersistentVolumeClaimStorage(KubeModel):
    """A PersistentVolumeClaim of the same namespace to write the videos to."""

    claim_name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="Name of an existing PersistentVolumeClaim in the Recording's namespace; the operator "
        "neither creates nor deletes it.",
    )
    sub_path: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[^/](.*[^/])?$",
        description="Directory inside the claim, relative (no leading or trailing slash, no '..' segments); the "
        "videos go to <subPath>/<recording>-<uid prefix>/. Default: the namespace's name.",
        json_schema_extra=validations(dot_segments_rule("subPath")),
    )

    @field_validator("sub_path")
    @classmethod
    def _inside_the_claim(cls, sub_path: str | None) -> str | None:
        return check_dot_segments(sub_path, "subPath") if sub_path is not None else None


class RecordingStorage(KubeModel):
    """Where the videos are written."""

    pvc: PersistentVolumeClaimStorage | None = Field(
        default=None,
        description="Write videos to this PersistentVolumeClaim. Default: the namespace's shared "
        "streamops-recordings claim, created on first use and never deleted by the operator.",
    )


class RecordingSpec(KubeModel):
    """Desired state of the recording (start_recording / stop_recording); unset settings come from the
    stream's spec.recording."""

    stream_ref: LocalObjectRef = Field(
        description="The LiveStream to record (same namespace). Recording starts when it is live and waits "
        "(condition reason StreamNotLive) while it is not."
    )
    type: Literal["origin", "transcoded"] | None = Field(
        default=None,
        description="origin (the source as received) or transcoded (the stream's tallest rendition); default "
        "from the stream's recording.type.",
    )
    stopped: bool = Field(
        default=False,
        description="Set true to stop and finalise every video (stop_recording); the Recording then reports "
        "Succeeded. Default false. Final: it cannot be set back to false (create a new Recording instead).",
        # A stopped Recording's recorder is gone and its videos are final: false again would silently
        # do nothing forever, so the API server refuses it (a transition rule: updates only).
        json_schema_extra=validations(
            cel(
                "self || !oldSelf",
                "a stopped Recording cannot be restarted: create a new Recording to record the stream again",
                reason="FieldValueForbidden",
            )
        ),
    )
    reconnect_window_seconds: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="A source gap shorter than this (seconds) continues the same video; longer closes it and a "
        "resumed source starts a new one. 0..3600; default from the stream (10 s).",
    )
    max_segment_seconds: int | None = Field(
        default=None,
        ge=10,
        le=86400,
        description="Broadcasts longer than this (seconds) are cut into several videos. 10..86400; default from "
        "the stream (14400 s = 4 h).",
    )
    min_duration_seconds: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="A video shorter than this (seconds) is discarded with a Warning event (see "
        "status.discarded). 0..3600; default from the stream (10 s).",
    )
    storage: RecordingStorage | None = Field(
        default=None,
        description="Where the videos are written. Default: the namespace's shared streamops-recordings claim. "
        "Videos outlive the Recording, the stream and the operator.",
    )


class Video(KubeModel):
    """One finished video file (MP4, faststart)."""

    title: str = Field(
        max_length=512,
        description='"Stream Record: {stream title}, {end time UTC}", the hosted platform\'s pattern.',
    )
    path: str | None = Field(
        default=None,
        max_length=4096,
        description="Path of the MP4 file relative to the claim's root: "
        "<subPath or namespace>/<recording>-<uid prefix>/<file>.",
    )
    url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="URL of the video when it is stored outside a claim; unset for PVC storage.",
    )
    duration_seconds: float = Field(ge=0, description="Length of the video in seconds.")
    size_bytes: int = Field(ge=0, description="Size of the file in bytes.")
    started_at: datetime = Field(description="When the video's first media was recorded.")
    ended_at: datetime = Field(description="When the video's last media was recorded (the time in its title).")


class DiscardedFragment(KubeModel):
    """A recorded piece shorter than minDurationSeconds, deleted instead of kept."""

    reason: str = Field(
        max_length=1024, description="Why it was discarded, e.g. its length against minDurationSeconds."
    )
    duration_seconds: float = Field(ge=0, description="Length of the discarded fragment in seconds.")
    at: datetime = Field(description="When it was discarded.")


class RecordingStatus(ConditionedStatus):
    """Observed state of the recording, written by the operator from the recorder's telemetry."""

    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions: Ready, Recording (reason StreamNotLive or StreamNotFound while "
        "waiting) and Succeeded (once stopped and every video is finalised); Reconciling and Stalled appear only "
        "while true."
    )
    recording: bool = Field(
        default=False,
        description="True while the recorder records, including a source gap still within the reconnect window.",
    )
    started_at: datetime | None = Field(
        default=None, description="When recording started (the first video's start; recording_started_at)."
    )
    ended_at: datetime | None = Field(
        default=None, description="When recording ended, after spec.stopped; unset while it runs."
    )
    duration: float | None = Field(
        default=None, ge=0, description="Seconds recorded so far, over all videos including the one in progress."
    )
    videos: list[Video] = Field(
        default_factory=list,
        max_length=10000,
        description="The finished videos, oldest first: a new one after each source gap longer than the reconnect "
        "window and each maxSegmentSeconds cut.",
    )
    discarded: list[DiscardedFragment] = Field(
        default_factory=list, max_length=1000, description="Fragments shorter than minDurationSeconds, not kept."
    )
