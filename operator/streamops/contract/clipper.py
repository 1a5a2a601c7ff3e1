"""The clipper worker's contract: `ClipperConfig` (env STREAMOPS_CLIPPER_CONFIG) and `ClipperStatus`
(`GET /status`).

The operator resolves everything: the absolute range (a Clip's lastSeconds counts back from its
creation), the ingest playlist to read, the title, the storage (a claim mounted at
`recordingsRoot`, or an upload target with the recorder's `UploadTarget`). The clipper cuts once,
stores the video, reports it exactly as a Recording's `Video`, and keeps serving `/status` until
its Pod is deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from streamops.api.clip import ClipMode
from streamops.api.common import ClientFields, check_uri
from streamops.api.recording import Video
from streamops.contract.recordings_claim import RECORDINGS_ROOT, relative_directory
from streamops.contract.upload_target import StorageProblem, UploadTarget
from streamops.contract.worker import HTTP_PORT, UtcTime, WorkerConfig, WorkerStatus

CONFIG_ENV = "STREAMOPS_CLIPPER_CONFIG"
PLAYBACK_KEYS_DIR = "/var/run/secrets/streamops/playback-keys"  # a signed stream's keys in the clipper
# How long past the requested end the clipper waits for the DVR to have it (an end ≤ 300 s in the
# future plus a few segments of packaging delay).
END_WAIT_MARGIN_SECONDS = 30.0

Phase = Literal["waiting", "cutting", "storing", "succeeded", "failed"]
# Why a clip was not made: the range is not (or no longer) in what the ingest serves, or the cut failed.
Refusal = Literal["OutsideDvrWindow", "ClipFailed"]


class ClipperConfig(WorkerConfig):
    """One Clip, resolved by the operator."""

    stream: str = Field(default="", max_length=253, description="The LiveStream's name (metrics, sidecar).")
    clip: str = Field(default="", max_length=253, description="The Clip's name (metrics, sidecar).")
    playlist_url: str = Field(
        description="The ingest's HLS media playlist with EXT-X-PROGRAM-DATE-TIME (http://…/hls/ts/index.m3u8, or "
        "a rendition's), read over plain HTTP inside the cluster."
    )
    start: datetime = Field(description="Wall-clock start of the clip (aware).")
    end: datetime = Field(description="Wall-clock end of the clip (aware).")
    mode: ClipMode = "keyframe"
    title: str = Field(max_length=512, description="The video's title.")
    client: ClientFields | None = Field(
        default=None,
        description="The stream's clientUserId / clientEntityData, for the JSON sidecar on the claim "
        "(client_fields()); the bucket's sidecar takes upload.client.",
    )
    recordings_root: str = Field(default=RECORDINGS_ROOT, description="Where the storage (or scratch) is mounted.")
    directory: str = Field(description="The Clip's directory inside the recordings root.")
    file_name: str = Field(default="clip.mp4", pattern=r"^[A-Za-z0-9._-]+\.mp4$", description="The video's file name.")
    upload: UploadTarget | None = Field(
        default=None, description="Upload the video here (recordings_root is scratch space); None: keep it there."
    )
    playback_keys_dir: str | None = Field(
        default=None,
        description="A signed stream's playback keys (the namespace's Secret, mounted as files current and "
        "previous): the clipper signs its own short-lived token for the playlist and segments it reads.",
    )
    playback_stream: str = Field(default="", description='What its tokens are for: "<namespace>/<stream>".')
    end_wait_seconds: float = Field(
        default=END_WAIT_MARGIN_SECONDS,
        ge=0,
        description="How long after `end` to wait for the DVR to hold it before cutting what there is.",
    )
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)

    @field_validator("playlist_url")
    @classmethod
    def _plain_http(cls, url: str) -> str:
        return check_uri(url, ("http",), "playlistUrl")

    @field_validator("directory")
    @classmethod
    def _inside_root(cls, directory: str) -> str:
        return relative_directory(directory)

    @model_validator(mode="after")
    def _range(self) -> ClipperConfig:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must carry a time zone")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ClipperStatus(WorkerStatus):
    """What the clipper reports: its phase, the video once stored (as the Clip's status.videos[0]),
    and why it failed, if it did."""

    state: Phase = "waiting"
    video: Video | None = None
    started_at: UtcTime | None = Field(default=None, description="Wall-clock time of the first frame cut.")
    ended_at: UtcTime | None = Field(default=None, description="Wall-clock time of the end of the media cut.")
    refusal: Refusal | None = None
    message: str | None = Field(default=None, description="What it waits for, or why it failed (no credentials).")
    cut_seconds: float | None = Field(default=None, description="How long reading and cutting took.")
    storage_problem: StorageProblem | None = Field(default=None, description="Why the upload does not go through.")
    storage_error: str | None = None
