"""The LiveStream's media settings that its ingest's contract carries (contract/ingest.py): the source
(push, pull), HLS and the DVR window, the transcoding ladder, screenshots, encryption, the publish
sessions the ingest reports. In a module of their own, without the LiveStream's other models (its
spec, status, playback routes, Services) or the Recording's that api.livestream imports: a worker
imports the contract and what it carries, not the custom resources (docs/design/lean-workers.md).
api.livestream re-exports every name; the CRD is generated from the same classes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from streamops.api.common import (
    CREDENTIALED_PULL_SCHEMES,
    NAME_MAX,
    NO_USERINFO_RULE,
    PULL_SOURCE_SCHEMES,
    SRT_CALLER_RULE,
    TLS_PULL_SCHEMES,
    URL_MAX,
    KubeModel,
    PeerTls,
    SecretKeyRef,
    cel,
    check_uri,
    scheme_rule,
    validations,
)

SessionProtocol = Literal["rtmp", "srt", "whip", "pull"]  # how the media on air arrives (status.protocol)
PublishSessionProtocol = Literal["rtmp", "rtmps", "srt", "whip", "pull"]  # status.sessions[].protocol
PushProtocol = Literal["rtmp", "rtmps", "srt", "whip"]
RecordType = Literal["origin", "transcoded"]
SEGMENT_SECONDS = 2  # spec.hls.segmentSeconds's default (and a recorder's of an older operator)
IngestRole = Literal["primary", "backup"]  # the two ingests of a push stream with source.push.backup


def _all_push_protocols() -> list[PushProtocol]:
    # Not rtmps: it needs a certificate (tls.secretName), so it is only on when asked for. Not whip
    # either: a default here would change every existing stream's ingest configuration (and roll its
    # live Pod on upgrade); WHIP is one word away (docs/design/webrtc.md).
    return ["rtmp", "srt"]


class PushTLS(KubeModel):
    """The certificate the RTMPS listener presents."""

    secret_name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        description="A kubernetes.io/tls Secret of the stream's namespace (keys tls.crt and tls.key), e.g. the "
        "one cert-manager writes for a Certificate. Mounted into the ingest Pods; a renewed certificate is "
        "picked up for new connections without restarting the ingest or cutting a live publisher.",
    )


class Failback(KubeModel):
    """When the backup ingest's media is on air, how the primary takes it back."""

    stable_seconds: int = Field(
        default=10,
        ge=1,
        le=3600,
        description="The primary ingest takes the air back once its own publisher has sent without a break for "
        "this long (default 10). Until then the backup stays on air: a primary encoder that flaps never costs "
        "more than one switch.",
    )


class PushSrt(KubeModel):
    """Options of the SRT listener."""

    latency_ms: int | None = Field(
        default=None,
        ge=20,
        le=8000,
        description="SRT latency in milliseconds: how long the receiver buffers to recover lost packets. The "
        "connection uses the larger of this and the encoder's own. 400..2000 suits most internet paths (about "
        "4 round trips); 20..8000, default unset: libsrt's 120.",
    )


BACKUP_WITHOUT_WHIP = "source.push.backup needs rtmp, rtmps or srt: WHIP has no backup ingest"
RTMPS_NEEDS_TLS = (
    "rtmps needs a certificate: set source.push.tls.secretName to a kubernetes.io/tls Secret (e.g. one cert-manager "
    "writes)"
)


class PushSource(KubeModel):
    """Encoders (OBS, ffmpeg, hardware) push to the stream's ingest endpoints (status.ingest) with the
    stream key."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.protocols) || !('rtmps' in self.protocols) || has(self.tls)",
                RTMPS_NEEDS_TLS,
            ),
            cel(
                "!has(self.backup) || !self.backup || !has(self.protocols) || self.protocols.exists(p, p != 'whip')",
                BACKUP_WITHOUT_WHIP,
            ),
        )
    )

    protocols: list[PushProtocol] = Field(
        default_factory=_all_push_protocols,
        min_length=1,
        max_length=4,
        description="Protocols the ingest accepts: rtmp, rtmps (RTMP over TLS, needs tls.secretName), srt and/or "
        "whip (WebRTC from browsers and OBS 30+: H.264 and Opus, the stream key as the WHIP bearer token; primary "
        "ingest only, status.ingest.pushUrlWhip). Default rtmp and srt. One publisher at a time, whichever the "
        "protocol: a second one is refused (WHIP: 409).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    tls: PushTLS | None = Field(
        default=None,
        description="The certificate of the rtmps endpoint (status.ingest.pushUrlRtmps). Required when protocols "
        "lists rtmps.",
    )
    srt: PushSrt | None = Field(default=None, description="Options of the SRT listener (latencyMs).")
    stream_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="The Secret and key holding the stream key (RTMP: the stream name after /live; SRT: the "
        "passphrase). When absent a random key is generated into the Secret <stream>-stream-key (key "
        "streamKey). The key never appears in spec or status.",
    )
    backup: bool = Field(
        default=False,
        description="Run a second, backup ingest (Pod and Service <stream>-ingest-backup, URLs in "
        "status.ingest.backupPushUrl*) accepting the same key. Default false.",
    )
    failback: Failback | None = Field(
        default=None,
        description="With backup: when the primary takes the air back from the backup (absent: the defaults). "
        "While the primary's publisher sends nothing (for 2 s), the backup's media is on air: the same playback "
        "URLs, recordings and restreams go on from it (status.activeIngest).",
    )

    @model_validator(mode="after")
    def _rtmps_needs_tls(self) -> PushSource:
        if "rtmps" in self.protocols and self.tls is None:
            raise ValueError(RTMPS_NEEDS_TLS)
        if self.backup and set(self.protocols) <= {"whip"}:
            raise ValueError(BACKUP_WITHOUT_WHIP)
        return self


RtspTransport = Literal["tcp", "udp"]
CREDENTIALS_NEED_RTSP = "source.pull.credentialsSecretRef is for rtsp:// and rtsps:// URLs: list at least one"
_HAS_RTSP_URL = "self.urls.exists(u, u.startsWith('rtsp://') || u.startsWith('rtsps://'))"
# The pull URLs whose server's certificate source.pull.tls is about (TLS_PULL_SCHEMES).
_HAS_TLS_URL = " || ".join(f"u.startsWith('{s}://')" for s in TLS_PULL_SCHEMES)
PULL_TLS_NEEDS_TLS_URL = "source.pull.tls is for rtmps://, https:// and rtsps:// URLs: list at least one"


class PullRtsp(KubeModel):
    """How rtsp:// and rtsps:// pull URLs are read."""

    transport: RtspTransport = Field(
        default="tcp",
        description="How the camera sends RTP: tcp (interleaved in the RTSP connection: passes NATs and firewalls, "
        "no loss) or udp (RTP/RTCP on UDP ports the camera sends to: the camera must reach the ingest Pod's "
        "address, and lost packets are lost). Default tcp. rtsps:// URLs always use tcp (RTP inside the TLS "
        "connection, whose certificate is verified as source.pull.tls says).",
    )


SAME_CREDENTIAL_KEYS = "usernameKey and passwordKey must name two different keys of the Secret"


class PullCredentialsRef(KubeModel):
    """A Secret of the stream's namespace with the user name and password of RTSP cameras."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.usernameKey) || !has(self.passwordKey) || self.usernameKey != self.passwordKey",
                SAME_CREDENTIAL_KEYS,
            )
        )
    )

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the Secret (same namespace).")
    username_key: str = Field(
        default="username", min_length=1, max_length=NAME_MAX, description="Key of the user name. Default username."
    )
    password_key: str = Field(
        default="password", min_length=1, max_length=NAME_MAX, description="Key of the password. Default password."
    )

    @model_validator(mode="after")
    def _two_keys(self) -> PullCredentialsRef:
        if self.username_key == self.password_key:
            raise ValueError(SAME_CREDENTIAL_KEYS)
        return self


class PullSource(KubeModel):
    """The stream pulls from origins, trying the URLs round-robin."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(f"!has(self.credentialsSecretRef) || {_HAS_RTSP_URL}", CREDENTIALS_NEED_RTSP),
            cel(f"!has(self.tls) || self.urls.exists(u, {_HAS_TLS_URL})", PULL_TLS_NEEDS_TLS_URL),
        )
    )

    urls: list[str] = Field(
        min_length=1,
        max_length=16,
        description="Origins to pull from (1..16 rtmp://, rtmps://, srt:// with mode=caller, http://, https://, "
        "rtsp:// or rtsps:// URLs, no credentials in the URL: an RTSP camera's go in credentialsSecretRef). "
        "Tried in order; one that fails or stops sending makes the next current, cycling.",
        json_schema_extra={
            "items": {
                "type": "string",
                "maxLength": URL_MAX,
                **validations(scheme_rule(PULL_SOURCE_SCHEMES, "a pull URL"), SRT_CALLER_RULE, NO_USERINFO_RULE),
            }
        },
    )
    rtsp: PullRtsp | None = Field(
        default=None, description="Options of the rtsp:// and rtsps:// URLs (transport). Default: RTP over TCP."
    )
    credentials_secret_ref: PullCredentialsRef | None = Field(
        default=None,
        description="The Secret with the user name and password the RTSP cameras of urls ask for (basic or digest "
        "authentication). Given to rtsp:// and rtsps:// URLs only, never to the other origins. Mounted into the "
        "ingest Pod and read at every connection attempt (a changed password needs no restart); never on a "
        "command line, in status, logs or Events. A refused password shows in the Live condition (reason "
        "PullCredentialsRefused).",
    )
    tls: PeerTls | None = Field(
        default=None,
        description="How the certificates of the rtmps://, https:// and rtsps:// origins are checked: verified by "
        "default, "
        "against the system's trust store (public CAs) and the URL's host, before anything is sent (the URL's path, "
        "often a secret stream name) or put on air; caSecretRef for a private CA, insecureSkipVerify to pull "
        "unverified (insecure: whoever answers at the origin's address gets the path and puts any media on air). "
        "An origin whose certificate is not trusted is not pulled from, and the Live condition says so (reason "
        "PullFailed). An rtsps:// camera's credentials (credentialsSecretRef) go only to a verified camera.",
    )
    inactivity_timeout_seconds: int = Field(
        default=7200,
        ge=10,
        le=604800,
        description="Seconds without data from any URL after which the stream deactivates itself "
        "(status.active false, condition Ready false with reason Deactivated, no ingest running) until its spec "
        "changes or the annotation streaming.streamops.dev/deactivated is removed. 10..604800, default 7200 (2 h).",
    )

    @field_validator("urls")
    @classmethod
    def _urls_are_safe(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if len(url) > URL_MAX:
                raise ValueError(f"a pull URL is longer than {URL_MAX} characters")
            check_uri(url, PULL_SOURCE_SCHEMES, "a pull URL")
        return urls

    @model_validator(mode="after")
    def _credentials_need_rtsp(self) -> PullSource:
        if self.credentials_secret_ref is not None and not any(
            u.startswith(tuple(f"{s}://" for s in CREDENTIALED_PULL_SCHEMES)) for u in self.urls
        ):
            raise ValueError(CREDENTIALS_NEED_RTSP)
        return self

    @model_validator(mode="after")
    def _tls_needs_a_tls_url(self) -> PullSource:
        prefixes = tuple(f"{s}://" for s in TLS_PULL_SCHEMES)
        if self.tls is not None and not any(u.startswith(prefixes) for u in self.urls):
            raise ValueError(PULL_TLS_NEEDS_TLS_URL)
        return self


PUSH_XOR_PULL = (
    "set exactly one of source.push (encoders push to the stream) or source.pull (the stream pulls from urls)"
)


class Source(KubeModel):
    """Exactly one of push or pull."""

    model_config = ConfigDict(json_schema_extra=validations(cel("has(self.push) != has(self.pull)", PUSH_XOR_PULL)))

    push: PushSource | None = Field(
        default=None,
        description="Encoders push RTMP, RTMPS or SRT to the stream's ingest endpoints (status.ingest). Exclusive "
        "with pull.",
    )
    pull: PullSource | None = Field(
        default=None, description="The stream pulls from a list of origin URLs. Exclusive with push."
    )

    @model_validator(mode="after")
    def _push_xor_pull(self) -> Source:
        if (self.push is None) == (self.pull is None):
            raise ValueError(PUSH_XOR_PULL)
        return self


class DVR(KubeModel):
    """Rewind (DVR) window of the live HLS playlists."""

    enabled: bool = Field(
        default=False,
        description="Keep durationSeconds of the broadcast in the HLS playlists so viewers can rewind. "
        "Default false: the playlists hold only the last 6 segments.",
    )
    duration_seconds: int = Field(
        default=3600,
        ge=30,
        le=14400,
        description="How far back viewers can rewind, in seconds, when enabled. 30..14400 (4 h), default 3600.",
    )


LatencyMode = Literal["standard", "low"]
# 200 ms: a whole number of frames at 25, 30, 50 and 60 fps (FFmpeg cuts parts on frames); measured
# glass-to-glass in bench/results/latency.md.
DEFAULT_PART_MILLISECONDS = 200
HLS_NEEDS_A_FORMAT = "hls needs at least one of cmaf or mpegts enabled"
LOW_LATENCY_NEEDS_CMAF = "hls.latencyMode low needs hls.cmaf: LL-HLS parts are fMP4 (CMAF), not MPEG-TS"
PART_BELOW_SEGMENT = "hls.partMilliseconds must be below hls.segmentSeconds (a part is a piece of a segment)"
DVR_HOLDS_THREE_SEGMENTS = (
    "dvr.durationSeconds must be at least 3 x hls.segmentSeconds: a live playlist holds at least three target "
    "durations (RFC 8216bis)"
)
TRANSCODED_NEEDS_RENDITIONS = (
    "recording.type transcoded needs at least one transcoding rendition (transcoding.renditions or "
    "transcoding.qualitySetRef)"
)
DASH_LOW_LATENCY_NEEDS_DASH = "dashLatencyMode low needs dash: true (it is the latency of the DASH output)"
ENCRYPTION_WITHOUT_DASH = (
    "playback.encryption covers HLS only: set dash false (DASH would serve the same media in the clear; "
    "docs/design/protection.md)"
)


class HLS(KubeModel):
    """HLS output of the stream (URLs in status.playback)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.cmaf || self.mpegts", HLS_NEEDS_A_FORMAT),
            cel("!has(self.latencyMode) || self.latencyMode != 'low' || self.cmaf", LOW_LATENCY_NEEDS_CMAF),
            cel(
                "!has(self.partMilliseconds) || self.partMilliseconds < self.segmentSeconds * 1000",
                PART_BELOW_SEGMENT,
            ),
        )
    )

    segment_seconds: int = Field(
        default=SEGMENT_SECONDS,
        ge=1,
        le=20,
        description="Target segment duration in seconds (segments are cut on keyframes). "
        f"1..20, default {SEGMENT_SECONDS}.",
    )
    cmaf: bool = Field(
        default=True, description="Serve HLS with fMP4 (CMAF) segments (status.playback.hlsCmafUrl). Default true."
    )
    mpegts: bool = Field(
        default=True,
        description="Serve HLS with MPEG-TS segments for legacy players (status.playback.hlsMpegtsUrl). "
        "Default true; at least one of cmaf and mpegts must be true.",
    )
    end_list_on_stop: bool = Field(
        default=True,
        description="Write #EXT-X-ENDLIST into the playlists when the broadcast ends, so players stop "
        "waiting for more. Default true.",
    )
    # None, not the default itself, for both: a new default in the ingest's configuration would change
    # every ingest's Pod spec hash and roll every live ingest on upgrade.
    latency_mode: LatencyMode | None = Field(
        default=None,
        description="standard (default): segments only, players stay about 3 segments (≈6 s with 2 s "
        "segments) behind live. low: Low-Latency HLS on the CMAF playlist — partial segments (partMilliseconds), "
        "blocking playlist reload and preload hints, ≈1.5 s behind live in LL-HLS players (hls.js, Safari); other "
        "players play it as standard HLS. Needs cmaf.",
    )
    part_milliseconds: int | None = Field(
        default=None,
        ge=100,
        le=2000,
        description=f"Length of the LL-HLS partial segments in ms with latencyMode low, below segmentSeconds. "
        f"Parts are cut on frames, so a part lasts a whole number of frames (200 ms is 6 frames at 30 fps, 5 at "
        f"25). 100..2000, default {DEFAULT_PART_MILLISECONDS}.",
    )

    @model_validator(mode="after")
    def _one_format(self) -> HLS:
        if not (self.cmaf or self.mpegts):
            raise ValueError(HLS_NEEDS_A_FORMAT)
        if self.latency_mode == "low" and not self.cmaf:
            raise ValueError(LOW_LATENCY_NEEDS_CMAF)
        if self.part_milliseconds is not None and self.part_milliseconds >= self.segment_seconds * 1000:
            raise ValueError(PART_BELOW_SEGMENT)
        return self

    @property
    def low_latency(self) -> bool:
        return self.latency_mode == "low"

    @property
    def part_seconds(self) -> float:
        return (self.part_milliseconds or DEFAULT_PART_MILLISECONDS) / 1000


class Rendition(KubeModel):
    """One quality of the transcoding ladder (H.264 + AAC)."""

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$",
        max_length=32,
        description="Unique name of the rendition, also its directory in the HLS output, e.g. 720p "
        "(lowercase letters, digits and dashes, up to 32 characters).",
    )
    height: int = Field(
        ge=144,
        le=2160,
        description="Output frame height in pixels, 144..2160; the width follows the source's aspect ratio.",
    )
    video_bitrate_kbps: int = Field(
        ge=100, le=50000, description="H.264 video bitrate in kbit/s (also the maximum rate), 100..50000."
    )
    audio_bitrate_kbps: int = Field(
        default=128, ge=32, le=512, description="AAC audio bitrate in kbit/s, 32..512, default 128."
    )


RENDITIONS_MAX = 6  # a ladder's renditions, inline or in a QualitySet
QualitySetKind = Literal["QualitySet", "ClusterQualitySet"]
LADDER_OR_SET = "set at most one of transcoding.renditions and transcoding.qualitySetRef"


class QualitySetRef(KubeModel):
    """A named ladder the stream transcodes into: a QualitySet of its namespace or a ClusterQualitySet."""

    name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the QualitySet (in the stream's namespace) or ClusterQualitySet.",
    )
    kind: QualitySetKind = Field(
        default="QualitySet",
        description="QualitySet (default: the stream's namespace) or ClusterQualitySet (cluster-wide; the operator "
        "keeps one named default, chart value qualitySets.default).",
    )


class Transcoding(KubeModel):
    """Optional transcoding of the stream into an adaptive-bitrate ladder: inline renditions, or a reference
    to a named QualitySet or ClusterQualitySet."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.qualitySetRef) || !has(self.renditions) || size(self.renditions) == 0",
                LADDER_OR_SET,
            )
        )
    )

    renditions: list[Rendition] = Field(
        default_factory=list,
        max_length=RENDITIONS_MAX,
        description=f"Up to {RENDITIONS_MAX} x264 renditions, served as one multivariant HLS playlist; the tallest "
        "one is also the transcoded feed for recordings and restreams. Empty (and no qualitySetRef): passthrough "
        "(the source is copied).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    quality_set_ref: QualitySetRef | None = Field(
        default=None,
        description="Transcode into a named ladder instead of inline renditions (exclusive with renditions). "
        "The operator resolves it when it builds the ingest; a change of the set reaches a live ingest at its "
        "next session (condition RestartPending meanwhile), never cutting it. A set that does not exist makes "
        "Ready False (reason QualitySetNotFound) and leaves a running ingest as it is.",
    )

    @model_validator(mode="after")
    def _one_ladder(self) -> Transcoding:
        if self.quality_set_ref is not None and self.renditions:
            raise ValueError(LADDER_OR_SET)
        return self

    @property
    def has_ladder(self) -> bool:
        """Renditions inline or named: not passthrough (what the ladder is, the operator resolves)."""
        return bool(self.renditions) or self.quality_set_ref is not None

    def tallest_first(self) -> list[Rendition]:
        """The ladder, tallest first (equal heights in list order): the first is the transcoded feed
        the ingest serves, which a transcoded recording's own file holds."""
        return sorted(self.renditions, key=lambda r: -r.height)


class Screenshots(KubeModel):
    """A JPEG snapshot of the live picture, refreshed while the stream is live."""

    enabled: bool = Field(
        default=True,
        description="Take screenshots while live and serve the latest at status.playback.screenshotUrl "
        "(no history is kept): a JPEG at most 1080 pixels wide, a wider picture scaled down keeping its "
        "aspect ratio. Default true.",
    )
    interval_seconds: int = Field(
        default=10, ge=1, le=3600, description="Seconds between screenshots while live, 1..3600, default 10."
    )


RTMPS_CONTAINER_PORT = 1936  # contract.ingest.RTMPS_PORT (the contract imports this module, not the reverse)


BFramesPolicy = Literal["transcode", "refuse"]


# How the player page shows the picture (the hosted stream object's `projection`): docs/design/projection.md.
Projection = Literal["regular", "vr360", "vr180", "vr360tb"]


EncryptionMethod = Literal["AES-128"]
ROTATE_SECONDS_DEFAULT = 60


class PlaybackEncryption(KubeModel):
    """HLS encrypted for viewers (docs/design/protection.md): every segment and LL-HLS part served is AES-128
    encrypted with a key the ingest generates and rotates, handed out only through the playback gate."""

    method: EncryptionMethod = Field(
        default="AES-128",
        description="AES-128: whole segments and parts (CBC, PKCS7), played by hls.js, Safari, ffmpeg and VLC.",
    )
    rotate_seconds: int = Field(
        default=ROTATE_SECONDS_DEFAULT,
        ge=10,
        le=86400,
        description=f"A new key every this many seconds (rounded to whole segments, at least one). Default "
        f"{ROTATE_SECONDS_DEFAULT}.",
    )


SESSIONS_KEPT = 20  # status.sessions: the newest publish sessions kept (≈300 bytes each)


class PublishSession(KubeModel):
    """One publish (or pull) session of an ingest: when, how, and what arrived."""

    started_at: datetime = Field(description="When the session's media started arriving.")
    ended_at: datetime | None = Field(default=None, description="When it ended; unset while the session is on.")
    ingest: IngestRole = Field(description="The ingest that received it: primary or backup.")
    protocol: PublishSessionProtocol | None = Field(
        default=None, description="How the media arrived: rtmp, rtmps, srt, whip, or pull."
    )
    video_codec: str | None = Field(default=None, max_length=64, description="Video codec of the source, e.g. h264.")
    audio_codec: str | None = Field(default=None, max_length=64, description="Audio codec of the source, e.g. aac.")
    width: int | None = Field(default=None, ge=0, description="Frame width of the source in pixels.")
    height: int | None = Field(default=None, ge=0, description="Frame height of the source in pixels.")
    frame_rate: float | None = Field(
        default=None, ge=0, description="Average frames per second over the session (so far)."
    )
    average_bitrate: int | None = Field(
        default=None, ge=0, description="Average bitrate over the session (so far): bytes received × 8 / seconds."
    )
    peak_bitrate: int | None = Field(
        default=None, ge=0, description="The highest bitrate of any whole second of the session (so far), bits/s."
    )
