"""LiveStream: one live stream — push or pull ingest, HLS with DVR, optional transcoding."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from streamops.api.common import (
    NAME_MAX,
    NO_USERINFO_RULE,
    PULL_SOURCE_SCHEMES,
    SRT_CALLER_RULE,
    URL_MAX,
    ConditionedStatus,
    KubeModel,
    Resources,
    SecretKeyRef,
    cel,
    check_uri,
    scheme_rule,
    validations,
)

PushProtocol = Literal["rtmp", "srt"]
RecordType = Literal["origin", "transcoded"]


class PushSource(KubeModel):
    """Encoders (OBS, hardware) push to the stream's ingest endpoints."""

    protocols: list[PushProtocol] = Field(
        default_factory=lambda: ["rtmp", "srt"],
        min_length=1,
        max_length=2,
        description="Protocols the ingest accepts. RTMPS is served by TLS termination in front of rtmp.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    stream_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the stream key. When absent a key is generated into "
        "the Secret <stream>-stream-key (key streamKey).",
    )
    backup: bool = Field(default=False, description="Run a second (backup) ingest endpoint.")


class PullSource(KubeModel):
    """The stream pulls from origins, trying the URLs round-robin."""

    urls: list[str] = Field(
        min_length=1,
        max_length=16,
        description="Origins tried in order; one that fails or stops sending makes the next current, cycling.",
        json_schema_extra={
            "items": {
                "type": "string",
                "maxLength": URL_MAX,
                **validations(scheme_rule(PULL_SOURCE_SCHEMES, "a pull URL"), SRT_CALLER_RULE, NO_USERINFO_RULE),
            }
        },
    )
    inactivity_timeout_seconds: int = Field(
        default=7200,
        ge=10,
        le=604800,
        description="Without data for this long the stream is deactivated (status.active false).",
    )

    @field_validator("urls")
    @classmethod
    def _urls_are_safe(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if len(url) > URL_MAX:
                raise ValueError(f"a pull URL is longer than {URL_MAX} characters")
            check_uri(url, PULL_SOURCE_SCHEMES, "a pull URL")
        return urls


class Source(KubeModel):
    """Exactly one of push or pull."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.push) != has(self.pull)",
                "set exactly one of source.push (encoders push to the stream) or source.pull "
                "(the stream pulls from urls)",
            )
        )
    )

    push: PushSource | None = None
    pull: PullSource | None = None

    @model_validator(mode="after")
    def _push_xor_pull(self) -> Source:
        if (self.push is None) == (self.pull is None):
            raise ValueError("set exactly one of source.push or source.pull")
        return self


class DVR(KubeModel):
    enabled: bool = Field(default=False, description="Keep a rewind window in the HLS playlists.")
    duration_seconds: int = Field(default=3600, ge=30, le=14400, description="DVR window, 30..14400 s.")


class HLS(KubeModel):
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.cmaf || self.mpegts", "hls needs at least one of cmaf or mpegts enabled")
        )
    )

    segment_seconds: int = Field(default=2, ge=1, le=20, description="Target segment duration.")
    cmaf: bool = Field(default=True, description="Serve fMP4 (CMAF) HLS.")
    mpegts: bool = Field(default=True, description="Serve MPEG-TS HLS.")
    end_list_on_stop: bool = Field(
        default=True, description="Write #EXT-X-ENDLIST into the playlists when the broadcast ends."
    )

    @model_validator(mode="after")
    def _one_format(self) -> HLS:
        if not (self.cmaf or self.mpegts):
            raise ValueError("hls needs at least one of cmaf or mpegts enabled")
        return self


class Rendition(KubeModel):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", max_length=32, description="e.g. 720p")
    height: int = Field(ge=144, le=2160)
    video_bitrate_kbps: int = Field(ge=100, le=50000)
    audio_bitrate_kbps: int = Field(default=128, ge=32, le=512)


class Transcoding(KubeModel):
    renditions: list[Rendition] = Field(
        default_factory=list,
        max_length=6,
        description="x264 renditions; empty means passthrough (copy).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class RecordingDefaults(KubeModel):
    """Recording settings of the stream; Recordings inherit what they leave unset."""

    auto: bool = Field(default=False, description="Record every live session without creating a Recording.")
    standby: bool = Field(
        default=False,
        description="Keep a warm recorder running beside the active stream, so that a Recording (using the "
        "default recordings claim) starts writing within a second instead of after a Pod start. Costs one idle "
        "recorder process per stream.",
    )
    type: RecordType = Field(default="origin", description="Record the original feed or the transcoded one.")
    reconnect_window_seconds: int = Field(
        default=10, ge=0, le=3600, description="A source gap shorter than this continues the same video."
    )
    max_segment_seconds: int = Field(
        default=14400, ge=10, le=86400, description="Longer broadcasts are cut into several videos."
    )
    min_duration_seconds: int = Field(
        default=10, ge=0, le=3600, description="A stop before this discards the fragment."
    )


class Screenshots(KubeModel):
    enabled: bool = True
    interval_seconds: int = Field(default=10, ge=1, le=3600)


class LiveStreamSpec(KubeModel):
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.recording) || !has(self.recording.type) || self.recording.type != 'transcoded' || "
                "(has(self.transcoding) && has(self.transcoding.renditions) && "
                "size(self.transcoding.renditions) > 0)",
                "recording.type transcoded needs at least one transcoding rendition",
            ),
        )
    )

    title: str = Field(default="", max_length=255, description="Free text, not unique.")
    active: bool = Field(
        default=True, description="On/off switch: off refuses pushes and stops pulling, deleting nothing."
    )
    source: Source
    dvr: DVR = Field(default_factory=DVR)
    hls: HLS = Field(default_factory=HLS)
    transcoding: Transcoding | None = None
    recording: RecordingDefaults = Field(default_factory=RecordingDefaults)
    screenshots: Screenshots = Field(default_factory=Screenshots)
    resources: Resources | None = None

    @model_validator(mode="after")
    def _transcoded_needs_renditions(self) -> LiveStreamSpec:
        if self.recording.type == "transcoded" and not (self.transcoding and self.transcoding.renditions):
            raise ValueError("recording.type transcoded needs at least one transcoding rendition")
        return self


class IngestEndpoints(KubeModel):
    """Where encoders push: server URLs plus the name of the Secret with the key (never the key)."""

    push_url: str | None = Field(default=None, max_length=URL_MAX)
    push_url_srt: str | None = Field(default=None, max_length=URL_MAX)
    backup_push_url: str | None = Field(default=None, max_length=URL_MAX)
    backup_push_url_srt: str | None = Field(default=None, max_length=URL_MAX)
    stream_key_secret: str | None = Field(default=None, max_length=NAME_MAX)


class Playback(KubeModel):
    hls_cmaf_url: str | None = Field(default=None, max_length=URL_MAX)
    hls_mpegts_url: str | None = Field(default=None, max_length=URL_MAX)
    screenshot_url: str | None = Field(default=None, max_length=URL_MAX)


class LiveStreamStatus(ConditionedStatus):
    live: bool = False
    backup_live: bool = False
    active: bool | None = None
    ingest: IngestEndpoints | None = None
    playback: Playback | None = None
    started_at_primary: datetime | None = None
    started_at_backup: datetime | None = None
    finished_at_primary: datetime | None = None
    recording: bool = False
    recording_duration: float | None = Field(default=None, ge=0)
    transcoding_speed: float | None = Field(default=None, ge=0)
    frame_rate: float | None = Field(default=None, ge=0)
    video_width: int | None = Field(default=None, ge=0)
    video_height: int | None = Field(default=None, ge=0)
    video_codec: str | None = Field(default=None, max_length=64)
    audio_codec: str | None = Field(default=None, max_length=64)
    bitrate: int | None = Field(default=None, ge=0, description="bits per second")
