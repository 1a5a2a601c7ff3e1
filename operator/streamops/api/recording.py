"""Recording: records a live stream into video files (start_recording / stop_recording)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from streamops.api.common import NAME_MAX, URL_MAX, ConditionedStatus, KubeModel, LocalObjectRef


class PersistentVolumeClaimStorage(KubeModel):
    claim_name: str = Field(min_length=1, max_length=NAME_MAX)
    sub_path: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^[^/](.*[^/])?$",
        description="Relative directory in the claim.",
    )


class RecordingStorage(KubeModel):
    pvc: PersistentVolumeClaimStorage | None = Field(
        default=None, description="Write videos to this PersistentVolumeClaim (default: the operator's)."
    )


class RecordingSpec(KubeModel):
    stream_ref: LocalObjectRef = Field(description="The LiveStream to record (same namespace).")
    type: Literal["origin", "transcoded"] | None = Field(
        default=None, description="origin or transcoded; default from the stream's recording.type."
    )
    stopped: bool = Field(default=False, description="Set true to stop and finalise (stop_recording).")
    reconnect_window_seconds: int | None = Field(
        default=None, ge=0, le=3600, description="Default from the stream (10 s)."
    )
    max_segment_seconds: int | None = Field(
        default=None, ge=10, le=86400, description="Default from the stream (14400 s = 4 h)."
    )
    min_duration_seconds: int | None = Field(default=None, ge=0, le=3600, description="Default from the stream (10 s).")
    storage: RecordingStorage | None = None


class Video(KubeModel):
    title: str = Field(max_length=512, description="Stream Record: {title}, {end time UTC}")
    path: str | None = Field(default=None, max_length=4096)
    url: str | None = Field(default=None, max_length=URL_MAX)
    duration_seconds: float = Field(ge=0)
    size_bytes: int = Field(ge=0)
    started_at: datetime
    ended_at: datetime


class DiscardedFragment(KubeModel):
    reason: str = Field(max_length=1024)
    duration_seconds: float = Field(ge=0)
    at: datetime


class RecordingStatus(ConditionedStatus):
    recording: bool = False
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration: float | None = Field(default=None, ge=0)
    videos: list[Video] = Field(default_factory=list, max_length=10000)
    discarded: list[DiscardedFragment] = Field(
        default_factory=list, max_length=1000, description="Fragments shorter than minDurationSeconds, not kept."
    )
