"""Restream: forwards a live stream as is to one RTMP(S)/SRT target."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from streamops.api.common import (
    NO_USERINFO_RULE,
    PUSH_TARGET_SCHEMES,
    SRT_CALLER_RULE,
    URL_MAX,
    ClientFields,
    Condition,
    ConditionedStatus,
    LocalObjectRef,
    SecretKeyRef,
    check_uri,
    conditions_field,
    scheme_rule,
    validations,
)

NoAudioMode = Literal["drop", "silence"]  # also the pusher's setting (streamops.contract.pusher)


class RestreamSpec(ClientFields):
    """Desired state of the restream: which stream goes to which target. Media is forwarded as is (no
    transcoding); a failing target retries with backoff and never affects the stream or other targets."""

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

    @field_validator("uri")
    @classmethod
    def _uri_is_safe(cls, uri: str) -> str:
        return check_uri(uri, PUSH_TARGET_SCHEMES, "uri")


class RestreamStatus(ConditionedStatus):
    """Observed state of the restream, written by the operator from the pusher's telemetry."""

    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions: Ready and Live (reasons such as StreamNotLive, Backoff, "
        "Inactive); Reconciling, Stalled (e.g. StreamKeySecretNotFound) and "
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
        description="The last error pushing to the target, with credentials redacted.",
    )
