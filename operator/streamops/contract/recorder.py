"""The recorder worker's contract: `RecorderConfig` (env STREAMOPS_RECORDER_CONFIG, or the body of
`POST /start` to a warm recorder), `StandbyConfig` (a warm recorder waiting for one) and
`RecorderStatus` (`GET /status`).

Paths: the recordings storage is mounted at `recordingsRoot`; a Recording's videos go to its
`directory` inside it, and every video's `path` in status is relative to the root: the same
string from the operator's builder to the worker, its state file, `/status` and the Recording's
`status.videos[].path`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from streamops.api.common import ClientFields, KubeModel, check_uri
from streamops.api.livestream import SEGMENT_SECONDS, Rendition
from streamops.api.recording import DiscardedFragment, Video
from streamops.contract.recordings_claim import ORIGIN_SUFFIX as ORIGIN_SUFFIX  # re-exported
from streamops.contract.recordings_claim import RECORDINGS_ROOT as RECORDINGS_ROOT
from streamops.contract.recordings_claim import relative_directory as relative_directory
from streamops.contract.standby import CONFIG_ENV as CONFIG_ENV
from streamops.contract.storage_credentials import ACCESS_KEY_ENV as ACCESS_KEY_ENV
from streamops.contract.storage_credentials import SECRET_KEY_ENV as SECRET_KEY_ENV
from streamops.contract.worker import HTTP_PORT, CredentialedConfig, UtcTime, WorkerStatus

Phase = Literal["standby", "waiting", "recording", "reconnecting", "stopped"]
# A video up to this size goes up in one streaming PUT; a larger one in parallel parts, which a
# killed recorder resumes. Multipart costs two round trips more (create, complete: the server may
# copy every part again), which parallel parts win back only on larger files; a file this small is
# sent again whole after a kill (docs/design/object-storage.md, "Upload speed").
SINGLE_PUT_MAX_BYTES = 32 * 1024 * 1024
CA_FILE = "/etc/streamops/s3-ca/ca.crt"  # where a ca bundle Secret is mounted in the recorder

StorageProblem = Literal["StorageUnreachable", "StorageAccessDenied", "BucketNotFound", "UploadFailing"]


class UploadTarget(KubeModel):
    """An S3-compatible bucket the recorder uploads finished videos to (api S3Storage, resolved):
    `key_prefix` has the name placeholders filled in; the recorder fills in the time ones
    ({year} … {minute}, the video's start in UTC) and appends `/<video file name>`."""

    endpoint: str
    bucket: str
    key_prefix: str
    region: str = "us-east-1"
    path_style: bool = True
    ca_file: str | None = Field(default=None, description="CA bundle file to verify the endpoint with.")
    stream: str = Field(default="", description="The LiveStream's name, for each video's JSON sidecar.")
    recording: str = Field(default="", description="The Recording's name, for each video's JSON sidecar.")
    client: ClientFields | None = Field(
        default=None, description="The stream's client fields, for each video's JSON sidecar (client_fields())."
    )
    single_put_max_bytes: int = Field(
        default=SINGLE_PUT_MAX_BYTES,
        ge=0,
        description="A video of at most this many bytes goes up in one streaming PUT (sent again whole if the "
        "recorder is killed meanwhile); a larger one in parallel parts that a new recorder resumes.",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, url: str) -> str:
        return check_uri(url, ("http", "https"), "endpoint")


class RecorderConfig(CredentialedConfig):
    """One Recording's settings, resolved by the operator (the Recording's own, else its stream's
    `recording` defaults: those defaults live in the API models, not here)."""

    stream: str = Field(default="", max_length=253, description="The LiveStream's name (the metric label `stream`).")
    recording: str = Field(default="", max_length=253, description="The Recording's name (the metric label).")
    feed_url: str = Field(description="The ingest's live feed (http://…/feed, MPEG-TS).")
    recordings_root: str = Field(default=RECORDINGS_ROOT, description="Where the recordings storage is mounted.")
    directory: str = Field(description="This Recording's directory inside the recordings root.")
    title: str = Field(default="", description="The stream's title (used in video titles).")
    client: ClientFields | None = Field(
        default=None,
        description="The stream's clientUserId / clientEntityData, for each video's JSON sidecar on the claim "
        "(client_fields()); the bucket's sidecars take upload.client.",
    )
    reconnect_window_seconds: float = Field(ge=0)
    max_segment_seconds: float = Field(ge=1)
    min_duration_seconds: float = Field(ge=0)
    upload: UploadTarget | None = Field(
        default=None,
        description="Upload each finished video here, then delete the local copy (recordings_root is scratch "
        "space); None: the videos stay in recordings_root (a claim).",
    )
    exit_upload_seconds: float = Field(
        default=10.0,
        ge=0,
        description="After SIGTERM (Pod deleted, node drained) keep uploading finished videos this long before "
        "exiting: a scratch emptyDir goes with the Pod. The operator sets it a little under the Pod's grace period.",
    )
    upload_backoff_max_seconds: float | None = Field(
        default=None,
        ge=1,
        description="The longest pause between upload attempts while the storage fails (1 s, doubling up to "
        "this). None: the built-in 30 s. The operator leaves it unset (a default here would change every "
        "recorder's configuration, and so its Pod); tests set it short.",
    )
    min_free_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Free space kept on recordings_root beyond what finalising the open video needs; below it "
        "the video is closed cleanly (status noSpace) instead of failing mid-write with ENOSPC.",
    )
    renditions: list[Rendition] = Field(
        default_factory=list,
        description="A transcoded recording of a stream with a ladder: its renditions, tallest first. The feed "
        "is the tallest; each finalised video gets the others derived from it (media/recorder/renditions.py).",
    )
    segment_seconds: float = Field(
        default=float(SEGMENT_SECONDS),
        gt=0,
        description="The stream's HLS segment length: the renditions' keyframe interval.",
    )
    origin_feed_url: str | None = Field(
        default=None,
        description="keepOrigin: the ingest's origin feed (the source as received), recorded over the same span as "
        "feed_url (the transcoded feed) into <video>-origin.mp4 beside each video. None: no original is kept.",
    )
    origin_keep_seconds: float | None = Field(
        default=None,
        gt=0,
        description="With origin_feed_url: how long after its video's end each original is kept (the Recording's "
        "keepOrigin.deleteAfterDays, in seconds): the recorder writes the deadline into the video "
        "(origin.deleteAt), the operator deletes the original then.",
    )
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)

    @field_validator("feed_url")
    @classmethod
    def _plain_http(cls, url: str) -> str:
        return check_uri(url, ("http",), "feedUrl")  # the feed is plain HTTP inside the cluster

    @field_validator("origin_feed_url")
    @classmethod
    def _origin_plain_http(cls, url: str | None) -> str | None:
        return check_uri(url, ("http",), "originFeedUrl") if url is not None else None

    @model_validator(mode="after")
    def _origin_kept_for_a_while(self) -> RecorderConfig:
        if (self.origin_feed_url is None) != (self.origin_keep_seconds is None):
            raise ValueError("originFeedUrl and originKeepSeconds go together")
        return self

    @field_validator("directory")
    @classmethod
    def _inside_root(cls, directory: str) -> str:
        return relative_directory(directory)


class StandbyConfig(CredentialedConfig):
    """A warm recorder (LiveStream `recording.standby`): it serves HTTP and waits for `POST /start`
    with a RecorderConfig, so that a Recording starts without a Pod start. The standby reads it
    without pydantic (contract.standby), held to this model by a unit test."""

    standby: Literal[True]
    recordings_root: str = Field(default=RECORDINGS_ROOT, description="Where the recordings storage is mounted.")
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)


class RecorderStatus(WorkerStatus):
    """What the recorder reports. `videos` are the finalised videos exactly as the Recording's
    status shows them (paths relative to the recordings root)."""

    state: Phase = "waiting"
    recording: bool = False
    started_at: UtcTime | None = None
    ended_at: UtcTime | None = None
    duration: float | None = Field(default=None, description="Seconds recorded so far, all videos.")
    videos: list[Video] = Field(default_factory=list)
    discarded: list[DiscardedFragment] = Field(default_factory=list)
    last_error: str | None = None
    stored_bytes: int = Field(default=0, description="Bytes of the finished videos (local or uploaded) and parts.")
    no_space: bool = Field(
        default=False, description="The local disk ran (nearly) out: the open video was closed, recording waits."
    )
    storage_problem: StorageProblem | None = Field(
        default=None, description="Why uploads do not go through right now (object storage only)."
    )
    storage_error: str | None = Field(default=None, description="The storage's answer, credentials redacted.")


def key_prefix(template: str, namespace: str, stream: str, recording: str, uid: str) -> str:
    """The operator's half of an object key template: the name placeholders (time ones stay)."""
    names = {"namespace": namespace, "stream": stream, "recording": recording, "uid": uid[:8]}
    for name, value in names.items():
        template = template.replace("{" + name + "}", value)
    return template


def object_key(prefix: str, started_at: datetime, file_name: str) -> str:
    """The recorder's half: the video's start (UTC) into the time placeholders, then its file name."""
    t = started_at.astimezone(UTC)
    times = {"year": f"{t:%Y}", "month": f"{t:%m}", "day": f"{t:%d}", "hour": f"{t:%H}", "minute": f"{t:%M}"}
    for name, value in times.items():
        prefix = prefix.replace("{" + name + "}", value)
    return f"{prefix}/{file_name}"


def sidecar_key(video_key: str) -> str:
    """The JSON sidecar sits next to its video: the same key with .json instead of .mp4 (the
    recorder writes it, the operator's retention deletes it with the video)."""
    stem = video_key[: -len(".mp4")] if video_key.endswith(".mp4") else video_key
    return f"{stem}.json"
