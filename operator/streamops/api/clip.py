"""Clip: a piece of a live stream's DVR window cut into one video, while the window still holds it
(instant clipping, as Mux's and Cloudflare Stream's). Design: docs/design/clips.md."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from streamops.api.common import (
    Condition,
    ConditionedStatus,
    KubeModel,
    LocalObjectRef,
    cel,
    conditions_field,
    validations,
)
from streamops.api.recording import RecordingStorage, Video

# The longest clip: the longest DVR window (LiveStream dvr.durationSeconds ≤ 14400).
MAX_CLIP_SECONDS = 14400
# An end this far past the Clip's creation is waited for (the DVR has it once it is live); further
# ahead is refused (EndTooFarInFuture): a clip is cut from what was, not a recording to come.
MAX_FUTURE_END_SECONDS = 300
# RFC 3339 date-times are short: bounded, so the CEL rules' cost stays within the API server's budget.
DATE_TIME_MAX = 64
ONE_RANGE = "set either start and end, or lastSeconds"
END_AFTER_START = "end must be after start"
NOT_TOO_LONG = f"a clip lasts at most {MAX_CLIP_SECONDS} s (end - start)"
IMMUTABLE = "a Clip's spec cannot be changed: create a new Clip"

ClipMode = Literal["keyframe", "exact"]


class ClipSpec(KubeModel):
    """What to cut: a wall-clock range (start and end) or the last N seconds, from a stream's DVR."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.start) == has(self.end) && has(self.start) != has(self.lastSeconds)", ONE_RANGE),
            cel("!has(self.start) || timestamp(self.end) > timestamp(self.start)", END_AFTER_START),
            cel(
                f"!has(self.start) || timestamp(self.end) - timestamp(self.start) <= duration('{MAX_CLIP_SECONDS}s')",
                NOT_TOO_LONG,
            ),
            # A clip is cut once: another range or storage would be another clip.
            cel("self == oldSelf", IMMUTABLE, reason="FieldValueForbidden"),
        )
    )

    stream_ref: LocalObjectRef = Field(
        description="The LiveStream to clip (same namespace); it needs dvr.enabled (else the Clip is refused: NoDvr)."
    )
    start: datetime | None = Field(
        default=None,
        description="Wall-clock start of the clip (RFC 3339), within the stream's DVR window (else refused: "
        "OutsideDvrWindow). With end; or use lastSeconds.",
        json_schema_extra={"maxLength": DATE_TIME_MAX},
    )
    end: datetime | None = Field(
        default=None,
        description="Wall-clock end of the clip (RFC 3339). Up to 300 s after the Clip's creation it is waited "
        "for; further ahead the Clip is refused (EndTooFarInFuture).",
        json_schema_extra={"maxLength": DATE_TIME_MAX},
    )
    last_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CLIP_SECONDS,
        description="Instead of start and end: the last N seconds before the Clip's creation. 1..14400.",
    )
    title: str | None = Field(
        default=None,
        max_length=512,
        description='Title of the video. Default "Clip: {stream title}, {start UTC}".',
    )
    mode: ClipMode = Field(
        default="keyframe",
        description="keyframe (default): a copy of whole GOPs, from the keyframe at or before start to end: fast, "
        "may start up to one GOP early. exact: frame-exact start and end; the clip is re-encoded (H.264 + AAC), "
        "which takes longer (docs/design/clips.md).",
    )
    rendition: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$",
        max_length=32,
        description="Cut this transcoding rendition of the stream (its name, e.g. 720p). Default: the origin "
        "(the source as received).",
    )
    storage: RecordingStorage | None = Field(
        default=None,
        description="Where the video is written, as a Recording's. Default: the stream's recording storage, else "
        "the namespace's shared streamops-recordings claim.",
    )

    @model_validator(mode="after")
    def _one_range(self) -> ClipSpec:
        if (self.start is None) != (self.end is None) or (self.start is None) == (self.last_seconds is None):
            raise ValueError(ONE_RANGE)
        if self.start is not None and self.end is not None:
            if self.end <= self.start:
                raise ValueError(END_AFTER_START)
            if (self.end - self.start).total_seconds() > MAX_CLIP_SECONDS:
                raise ValueError(NOT_TOO_LONG)
        return self


class ClipStatus(ConditionedStatus):
    """Observed state of the clip, written by the operator from the clipper's telemetry."""

    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions: Ready, Succeeded (True once the video is stored; False with "
        "NoDvr, OutsideDvrWindow, EndTooFarInFuture or ClipFailed when refused or failed; Unknown with Waiting "
        "while the DVR does not hold the end yet), Stalled (StreamNotFound and the refusals) and Reconciling "
        "appear only while true."
    )
    videos: list[Video] = Field(
        default_factory=list,
        max_length=1,
        description="The clip's video (one), exactly as a Recording's: `streamops video url --clip <clip>` prints "
        "a download link.",
    )
    storage: RecordingStorage | None = Field(
        default=None,
        description="The storage the video goes to, resolved (names only, never credentials).",
    )
    started_at: datetime | None = Field(
        default=None, description="Wall-clock time of the first frame actually cut (keyframe mode: the keyframe)."
    )
    ended_at: datetime | None = Field(default=None, description="Wall-clock time of the end of the media cut.")
