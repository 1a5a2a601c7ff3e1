"""Restream: forwards a live stream as is to one RTMP(S)/SRT target."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from streamops.api.common import (
    NO_USERINFO_RULE,
    PUSH_TARGET_SCHEMES,
    SRT_CALLER_RULE,
    URL_MAX,
    ClientFields,
    Condition,
    ConditionedStatus,
    LocalObjectRef,
    PeerTls,
    SecretKeyRef,
    cel,
    check_uri,
    conditions_field,
    scheme_rule,
    validations,
)

NoAudioMode = Literal["drop", "silence"]  # also the pusher's setting (streamops.contract.pusher)
# The video codecs a target takes (also the pusher's setting), named as the ingest's status.videoCodec.
VideoCodec = Literal["h264", "hevc", "av1"]
DEFAULT_VIDEO_CODECS: tuple[VideoCodec, ...] = ("h264",)
# FFmpeg writes AV1 in MPEG-TS under the workers' own registration `SAV1`, not AOM's carriage (start
# codes, emulation prevention), so no SRT receiver could read it (docs/design/enhanced-rtmp.md).
NO_AV1_OVER_SRT = (
    "targetVideoCodecs cannot list av1 for an srt:// target: the workers carry AV1 in MPEG-TS under their own "
    "label, which no SRT receiver reads; push AV1 to an rtmp:// or rtmps:// target that takes Enhanced RTMP"
)
_DUPLICATE_CODEC = "targetVideoCodecs lists a codec twice"
TLS_NEEDS_RTMPS = "tls applies to an rtmps:// target only"


def _default_video_codecs() -> list[VideoCodec]:
    return list(DEFAULT_VIDEO_CODECS)


class RestreamSpec(ClientFields):
    """Desired state of the restream: which stream goes to which target. Media is forwarded as is (no
    transcoding); a failing target retries with backoff and never affects the stream or other targets."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!self.uri.startsWith('srt://') || !has(self.targetVideoCodecs) || !('av1' in self.targetVideoCodecs)",
                NO_AV1_OVER_SRT,
            ),
            cel("!has(self.tls) || self.uri.startsWith('rtmps://')", TLS_NEEDS_RTMPS),
        )
    )

    stream_ref: LocalObjectRef = Field(
        description="The LiveStream to forward (same namespace); deleting it deletes this Restream."
    )
    uri: str = Field(
        max_length=URL_MAX,
        description="Target: rtmp://, rtmps:// or srt:// (mode=caller only), without credentials. The stream "
        "key, if any, comes from streamKeySecretRef and is appended at run time.",
        json_schema_extra=validations(scheme_rule(PUSH_TARGET_SCHEMES, "uri"), SRT_CALLER_RULE, NO_USERINFO_RULE),
    )
    stream_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the target's stream key, read at every connect and never shown in spec, "
        "status or logs: appended as the last path segment for rtmp/rtmps (<uri>/<key>), sent as the streamid "
        "for srt. Optional.",
    )
    tls: PeerTls | None = Field(
        default=None,
        description="rtmps:// targets: the target's certificate is verified before the key is sent, against the "
        "system's trust store (public CAs) and the host of uri, unless this says otherwise: caSecretRef for a "
        "private CA, insecureSkipVerify to send the key unverified (insecure). A target whose certificate is not "
        "trusted gets nothing and the Restream says so (Live False, reason Backoff).",
    )
    active: bool = Field(
        default=True,
        description="On/off switch: false stops pushing (the pusher Pod is removed) and keeps the object. "
        "Default true.",
    )
    source: Literal["original", "transcoded"] = Field(
        default="original",
        description="Which feed to forward: original (the source as received, default) or transcoded (the "
        "stream's tallest rendition; needs transcoding renditions on the stream).",
    )
    no_audio_mode: NoAudioMode = Field(
        default="drop",
        description="What to send when the source has no audio track: drop (video only, default) or silence "
        "(a silent AAC track, for targets that require audio).",
    )

    target_video_codecs: list[VideoCodec] = Field(
        default_factory=_default_video_codecs,
        min_length=1,
        max_length=3,
        description="The video codecs the target takes: h264, hevc, av1; default [h264]. H.264 is what every "
        "RTMP/SRT server takes; add hevc and av1 for targets that take Enhanced RTMP (YouTube, Twitch Enhanced "
        "Broadcasting, SRS 6+, MediaMTX, ...), hevc for an srt:// receiver that takes HEVC in MPEG-TS (av1 is "
        "refused for srt://: the workers' AV1 in MPEG-TS is their own, which no SRT receiver reads). When the "
        "source's video is another codec the pusher sends nothing and the Restream's Ready and Live conditions "
        "say CodecNotAccepted; source: transcoded forwards the ladder's H.264 instead.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("uri")
    @classmethod
    def _uri_is_safe(cls, uri: str) -> str:
        return check_uri(uri, PUSH_TARGET_SCHEMES, "uri")

    @field_validator("target_video_codecs")
    @classmethod
    def _codecs_once(cls, codecs: list[VideoCodec]) -> list[VideoCodec]:
        if len(set(codecs)) != len(codecs):
            raise ValueError(_DUPLICATE_CODEC)
        return codecs

    @model_validator(mode="after")
    def _tls_needs_rtmps(self) -> RestreamSpec:
        if self.tls is not None and not self.uri.startswith("rtmps://"):
            raise ValueError(TLS_NEEDS_RTMPS)
        return self

    @model_validator(mode="after")
    def _no_av1_over_srt(self) -> RestreamSpec:
        if self.uri.startswith("srt://") and "av1" in self.target_video_codecs:
            raise ValueError(NO_AV1_OVER_SRT)
        return self


class RestreamStatus(ConditionedStatus):
    """Observed state of the restream, written by the operator from the pusher's telemetry."""

    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions: Ready and Live (reasons such as StreamNotLive, Backoff, "
        "Inactive, CodecNotAccepted); Reconciling, Stalled (e.g. StreamKeySecretNotFound, CodecNotAccepted: the "
        "source's video is a codec targetVideoCodecs does not list) and "
        "RestartPending (present while a running worker waits until it is idle to be restarted for a change "
        "that can wait, naming the first difference; the annotation streaming.streamops.dev/restarts: immediate "
        "applies it now) appear only while true."
    )
    live: bool = Field(
        default=False,
        description="True while the target receives the stream: it took bytes in the last 2 s (for rtmp and "
        "rtmps, read by the target as its TCP stack tells, acknowledgements and receive window, so a target that "
        "stops reading turns it false within seconds).",
    )
    started_at: datetime | None = Field(
        default=None, description="When the target last started receiving the stream (kept after it stops)."
    )
    bytes_sent: int | None = Field(
        default=None, ge=0, description="Bytes sent to the target by the current pusher, summed over its reconnects."
    )
    reconnects: int | None = Field(
        default=None,
        ge=0,
        description="How many times the current pusher connected to the target again after its first connection, "
        "whatever ended the previous one: the target failed (refused, dropped, stopped reading), or the stream's "
        "publisher or ingest restarted. Each is a new publish on the target. Failed attempts count; the failures "
        "themselves are in the RestreamBackoff Warning Event (one per failure streak, its count growing).",
    )
    last_error: str | None = Field(
        default=None,
        max_length=4096,
        description="The last error pushing to the target, or why nothing is pushed (CodecNotAccepted), with "
        "credentials redacted.",
    )
