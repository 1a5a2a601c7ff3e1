"""The pusher worker's contract. One target: `PusherConfig` (env STREAMOPS_PUSHER_CONFIG) and
`PusherStatus` (`GET /status`). A stream's shared pusher (docs/design/shared-pusher.md):
`SharedPusherConfig` (the same env), the set of targets the operator sends (`PUT /targets`,
`PusherTargets`) and `PusherSetStatus` (`GET /status`, one `TargetStatus` per target)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, SecretStr, SerializationInfo, field_serializer, field_validator, model_validator

from streamops.api.restream import DEFAULT_VIDEO_CODECS, NoAudioMode, VideoCodec
from streamops.api.uri_rules import PUSH_TARGET_SCHEMES, check_uri
from streamops.contract.egress_policy import EgressPolicy
from streamops.contract.worker import HTTP_PORT, CredentialedConfig, UtcTime, WorkerConfig, WorkerStatus
from streamops.contract.worker import PRIVATE_DIR as PRIVATE_DIR  # re-exported: the pusher's FIFO lives there

CONFIG_ENV = "STREAMOPS_PUSHER_CONFIG"
TARGET_KEY_DIR = "/var/run/secrets/streamops/target-key"
TARGET_KEY_FILE = "stream-key"
TARGET_CA_DIR = "/var/run/secrets/streamops/target-ca"
TARGET_CA_FILE = "ca.crt"
TARGETS_PATH = "/targets"  # PUT (a stream's shared pusher): the whole set of targets, PusherTargets
REVEAL_KEYS = "reveal_keys"  # the serialisation context that writes the keys (the operator's PUT body only)
# A live link whose target took no byte for this long froze: the watchdog gives it up (a failure).
STALL_SECONDS = 8.0

# codec-not-accepted: the feed's video is a codec the target does not take (videoCodecs); nothing is sent.
PusherState = Literal["waiting-for-source", "connecting", "live", "backoff", "codec-not-accepted"]
PUSHER_STATES: tuple[PusherState, ...] = ("waiting-for-source", "connecting", "live", "backoff", "codec-not-accepted")


class BackoffPolicy(WorkerConfig):
    """Exponential backoff with full jitter between target failures."""

    initial_seconds: float = Field(default=0.5, gt=0, le=60)
    max_seconds: float = Field(default=10.0, gt=0, le=600)
    reset_after_seconds: float = Field(
        default=10.0, ge=0, description="A link that stayed up this long starts the schedule over."
    )

    @model_validator(mode="after")
    def _ordered(self) -> BackoffPolicy:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("backoff maxSeconds must be >= initialSeconds")
        return self


def query_keys(uri: str) -> list[str]:
    _, _, query = uri.partition("?")
    return [p.partition("=")[0] for p in query.split("&") if p]


class PusherConfig(CredentialedConfig):
    """One Restream's target and how to reach the stream's feed."""

    name: str = Field(
        default="restream", max_length=253, description="Restream name (logs; the metric label `target`)."
    )
    stream: str = Field(default="", max_length=253, description="The LiveStream's name (the metric label `stream`).")
    feed_url: str = Field(description="The ingest's live feed (http://…/feed, MPEG-TS).")
    uri: str = Field(description="Target: rtmp://, rtmps:// or srt:// (mode=caller), without the key.")
    stream_key_file: str | None = Field(
        default=None, description="Mounted Secret file with the target's key, read at every connect."
    )
    no_audio_mode: NoAudioMode
    tls_ca_file: str | None = Field(
        default=None,
        description="rtmps: a mounted PEM file of the CA certificate(s) the target's certificate must chain to, "
        "instead of the system's trust store (FFmpeg's ca_file).",
    )
    tls_insecure_skip_verify: bool = Field(
        default=False,
        description="rtmps: do not verify the target's certificate (FFmpeg's tls_verify 0): the key goes to "
        "whoever answers at the target's address.",
    )
    video_codecs: list[VideoCodec] = Field(
        default_factory=lambda: list(DEFAULT_VIDEO_CODECS),
        min_length=1,
        description="The video codecs the target takes (the Restream's targetVideoCodecs): a feed whose video is "
        "another known codec is not pushed (state codec-not-accepted); an unknown one is pushed as is.",
    )
    # None without an admin's allow-list or cluster ranges: the default policy, and the configuration
    # (and Pod hash) of other pushers stays (docs/design/egress.md, "Media URLs").
    egress: EgressPolicy | None = Field(
        default=None,
        description="Where the target may be (the egress guard's policy; default: public addresses only).",
    )
    private_dir: str | None = Field(
        default=None,
        description="A directory only the worker reads, for the FIFO that hands FFmpeg the target's URL "
        "and key (default: a new one in the system's temporary directory).",
    )
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)
    backoff: BackoffPolicy = Field(default_factory=BackoffPolicy)
    # None unless set (the operator does not): the configuration, and Pod hash, of pushers stays.
    stall_seconds: float | None = Field(
        default=None,
        gt=0,
        le=300,
        description="A live link whose target took no byte for this long is given up as a failure and "
        f"retried after the backoff (the watchdog; default {STALL_SECONDS:g} s; `live` turns false after 2 s).",
    )

    @field_validator("feed_url")
    @classmethod
    def _feed_is_http(cls, url: str) -> str:
        return check_uri(url, ("http",), "feedUrl")

    @field_validator("uri")
    @classmethod
    def _target_is_safe(cls, uri: str) -> str:
        return check_uri(uri, PUSH_TARGET_SCHEMES, "uri")

    @model_validator(mode="after")
    def _one_place_for_the_key(self) -> PusherConfig:
        if self.stream_key_file and self.uri.startswith("srt://") and "streamid" in query_keys(self.uri):
            raise ValueError("uri already has a streamid: drop it from the uri or drop streamKeyFile")
        return self


class PusherStatus(WorkerStatus):
    """What the pusher reports (the target without its key: the key is never in the uri)."""

    live: bool = Field(
        default=False, description="The target took bytes in the last 2 s (for rtmp(s): read, by its TCP window)."
    )
    state: PusherState = "waiting-for-source"
    started_at: UtcTime | None = None
    bytes_sent: int = 0
    reconnects: int = Field(
        default=0,
        description="New connections to the target after the first, whatever the cause (target failure, publisher "
        "or ingest restart): each is a new publish on the target.",
    )
    failures: int = Field(
        default=0, description="Target failures in the current streak (0: none since the link last stayed up)."
    )
    failing_since: UtcTime | None = Field(default=None, description="When the current failure streak began.")
    last_error: str | None = None
    target: str = ""


# --- a stream's shared pusher (docs/design/shared-pusher.md) -------------------------------------


class SharedPusherConfig(CredentialedConfig):
    """What every target of a stream's pusher shares; the targets come over `PUT /targets`."""

    stream: str = Field(default="", max_length=253, description="The LiveStream's name (the metric label `stream`).")
    egress: EgressPolicy | None = Field(
        default=None,
        description="Where the targets may be (the egress guard's policy; default: public addresses only).",
    )
    private_dir: str | None = Field(
        default=None,
        description="A directory only the worker reads: the targets' key and CA files, the FIFOs that hand FFmpeg "
        "a target's URL and key (default: a new one in the system's temporary directory).",
    )
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)
    backoff: BackoffPolicy = Field(default_factory=BackoffPolicy)


class PusherTarget(WorkerConfig):
    """One Restream's target as the operator sends it: what `PusherConfig` says of its target, with
    the key's value instead of a mounted file (the pusher writes it to a file of its own)."""

    id: str = Field(min_length=1, max_length=253, description="The Restream's uid: a new id is a new target.")
    name: str = Field(
        min_length=1, max_length=253, description="The Restream's name (logs; the metric label `target`)."
    )
    version: str = Field(
        default="",
        max_length=1024,
        description="The operator's, echoed in /status: which version of the target the pusher runs.",
    )
    feed_url: str = Field(description="The ingest's live feed (http://…/feed, MPEG-TS).")
    uri: str = Field(description="Target: rtmp://, rtmps:// or srt:// (mode=caller), without the key.")
    stream_key: SecretStr | None = Field(default=None, description="The target's key (never in a log or /status).")
    no_audio_mode: NoAudioMode
    tls_ca: str | None = Field(
        default=None, max_length=256 * 1024, description="rtmps: PEM CA certificate(s) the target's must chain to."
    )
    tls_insecure_skip_verify: bool = False
    video_codecs: list[VideoCodec] = Field(default_factory=lambda: list(DEFAULT_VIDEO_CODECS), min_length=1)

    @field_validator("feed_url")
    @classmethod
    def _feed_is_http(cls, url: str) -> str:
        return check_uri(url, ("http",), "feedUrl")

    @field_validator("uri")
    @classmethod
    def _target_is_safe(cls, uri: str) -> str:
        return check_uri(uri, PUSH_TARGET_SCHEMES, "uri")

    @model_validator(mode="after")
    def _one_place_for_the_key(self) -> PusherTarget:
        if self.stream_key is not None and self.uri.startswith("srt://") and "streamid" in query_keys(self.uri):
            raise ValueError("uri already has a streamid: drop it from the uri or drop the stream key")
        return self

    @field_serializer("stream_key")
    def _key_only_when_asked(self, key: SecretStr | None, info: SerializationInfo) -> str | None:
        """The key is written only into the operator's PUT body (context REVEAL_KEYS); any other
        dump (a log, a repr, a status) shows it masked."""
        if key is None:
            return None
        context = info.context
        return key.get_secret_value() if isinstance(context, dict) and context.get(REVEAL_KEYS) else str(key)

    def push_config(self) -> dict[str, object]:
        """What a target's FFmpeg run needs that is neither its key nor its version: two targets
        with the same push_config need no reconnect to go from one to the other."""
        return self.model_dump(exclude={"stream_key", "version", "name"})


class PusherTargets(WorkerConfig):
    """`PUT /targets`: every target the pusher is to push to (an empty list: none)."""

    targets: list[PusherTarget] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _unique_ids(self) -> PusherTargets:
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError("target ids must be unique")
        return self

    def body(self) -> bytes:
        """The request body, keys and all (only the operator writes it, only to the pusher)."""
        return json.dumps(
            self.model_dump(by_alias=True, exclude_none=True, mode="json", context={REVEAL_KEYS: True})
        ).encode()

    def versions(self) -> dict[str, str]:
        return {t.id: t.version for t in self.targets}


class TargetStatus(PusherStatus):
    """One target of a shared pusher: a single pusher's status, with whose it is."""

    id: str = ""
    name: str = ""
    version: str = ""


class PusherSetStatus(WorkerStatus):
    """A shared pusher's `/status`: one entry per target it runs, in name order."""

    targets: list[TargetStatus] = Field(default_factory=list)

    def versions(self) -> dict[str, str]:
        return {t.id: t.version for t in self.targets}

    def of(self, target_id: str) -> TargetStatus | None:
        return next((t for t in self.targets if t.id == target_id), None)
