"""The recorder worker's contract: `RecorderConfig` (env STREAMOPS_RECORDER_CONFIG, or the body of
`POST /start` to a warm recorder), `StandbyConfig` (a warm recorder waiting for one) and
`RecorderStatus` (`GET /status`).

Paths: the recordings storage is mounted at `recordingsRoot`; a Recording's videos go to its
`directory` inside it, and every video's `path` in status is relative to the root: the same
string from the operator's builder to the worker, its state file, `/status` and the Recording's
`status.videos[].path`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from streamops.api.common import ClientFields, check_uri
from streamops.api.livestream_media import SEGMENT_SECONDS, Rendition
from streamops.api.recording import DiscardedFragment, Video
from streamops.contract.http import RELEASE_PATH as RELEASE_PATH
from streamops.contract.recordings_claim import ORIGIN_SUFFIX as ORIGIN_SUFFIX  # re-exported
from streamops.contract.recordings_claim import RECORDINGS_ROOT as RECORDINGS_ROOT
from streamops.contract.recordings_claim import relative_directory as relative_directory
from streamops.contract.standby import CONFIG_ENV as CONFIG_ENV
from streamops.contract.storage_credentials import ACCESS_KEY_ENV as ACCESS_KEY_ENV
from streamops.contract.storage_credentials import SECRET_KEY_ENV as SECRET_KEY_ENV
from streamops.contract.upload_target import CA_FILE as CA_FILE
from streamops.contract.upload_target import SINGLE_PUT_MAX_BYTES as SINGLE_PUT_MAX_BYTES
from streamops.contract.upload_target import StorageProblem as StorageProblem
from streamops.contract.upload_target import UploadTarget as UploadTarget
from streamops.contract.upload_target import key_prefix as key_prefix
from streamops.contract.upload_target import object_key as object_key
from streamops.contract.upload_target import sidecar_key as sidecar_key
from streamops.contract.worker import HTTP_PORT, CredentialedConfig, UtcTime, WorkerStatus

Phase = Literal["standby", "waiting", "recording", "reconnecting", "stopped"]
# A recorder handed over (docs/design/handover.md, Part 5): `releasing` once the state file is its
# successor's (its FFmpeg runs on until the successor's first part has begun), `released` once it ended.
RecorderRelease = Literal["releasing", "released"]


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
    handover: RecorderRelease | None = Field(
        default=None, description="Handed over to a successor recorder (POST /handover/release): its part's end."
    )
