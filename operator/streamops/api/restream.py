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
    ConditionedStatus,
    KubeModel,
    LocalObjectRef,
    SecretKeyRef,
    check_uri,
    scheme_rule,
    validations,
)


class RestreamSpec(KubeModel):
    stream_ref: LocalObjectRef = Field(description="The LiveStream to forward (same namespace).")
    uri: str = Field(
        max_length=URL_MAX,
        description="Target: rtmp://, rtmps:// or srt:// (mode=caller). The stream key, if any, "
        "comes from streamKeySecretRef and is appended at run time.",
        json_schema_extra=validations(scheme_rule(PUSH_TARGET_SCHEMES, "uri"), SRT_CALLER_RULE, NO_USERINFO_RULE),
    )
    stream_key_secret_ref: SecretKeyRef | None = None
    active: bool = True
    source: Literal["original", "transcoded"] = "original"
    no_audio_mode: Literal["drop", "silence"] = Field(
        default="drop", description="What to send when the source has no audio track."
    )

    @field_validator("uri")
    @classmethod
    def _uri_is_safe(cls, uri: str) -> str:
        return check_uri(uri, PUSH_TARGET_SCHEMES, "uri")


class RestreamStatus(ConditionedStatus):
    live: bool = False
    started_at: datetime | None = None
    bytes_sent: int | None = Field(default=None, ge=0)
    reconnects: int | None = Field(default=None, ge=0)
    last_error: str | None = Field(default=None, max_length=4096, description="Credentials redacted.")
