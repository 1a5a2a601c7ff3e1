"""The recorder worker's contract: `RecorderConfig` (env STREAMOPS_RECORDER_CONFIG, or the body of
`POST /start` to a warm recorder), `StandbyConfig` (a warm recorder waiting for one) and
`RecorderStatus` (`GET /status`).

Paths: the recordings storage is mounted at `recordingsRoot`; a Recording's videos go to its
`directory` inside it, and every video's `path` in status is relative to the root: the same
string from the operator's builder to the worker, its state file, `/status` and the Recording's
`status.videos[].path`."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator

from streamops.api.common import check_uri
from streamops.api.recording import DiscardedFragment, Video
from streamops.contract.worker import HTTP_PORT, UtcTime, WorkerConfig, WorkerStatus

CONFIG_ENV = "STREAMOPS_RECORDER_CONFIG"
RECORDINGS_ROOT = "/recordings"  # where the recordings claim is mounted in the recorder

Phase = Literal["standby", "waiting", "recording", "reconnecting", "stopped"]


def relative_directory(directory: str) -> str:
    """A directory inside the recordings root: relative, no `..`, not empty."""
    path = PurePosixPath(directory)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError("directory must be a directory inside the recordings root (relative, no '..')")
    return str(path)


class RecorderConfig(WorkerConfig):
    """One Recording's settings, resolved by the operator (the Recording's own, else its stream's
    `recording` defaults: those defaults live in the API models, not here)."""

    feed_url: str = Field(description="The ingest's live feed (http://…/feed, MPEG-TS).")
    recordings_root: str = Field(default=RECORDINGS_ROOT, description="Where the recordings storage is mounted.")
    directory: str = Field(description="This Recording's directory inside the recordings root.")
    title: str = Field(default="", description="The stream's title (used in video titles).")
    reconnect_window_seconds: float = Field(ge=0)
    max_segment_seconds: float = Field(ge=1)
    min_duration_seconds: float = Field(ge=0)
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)

    @field_validator("feed_url")
    @classmethod
    def _plain_http(cls, url: str) -> str:
        return check_uri(url, ("http",), "feedUrl")  # the feed is plain HTTP inside the cluster

    @field_validator("directory")
    @classmethod
    def _inside_root(cls, directory: str) -> str:
        return relative_directory(directory)


class StandbyConfig(WorkerConfig):
    """A warm recorder (LiveStream `recording.standby`): it serves HTTP and waits for `POST /start`
    with a RecorderConfig, so that a Recording starts without a Pod start."""

    standby: Literal[True]
    recordings_root: str = Field(default=RECORDINGS_ROOT, description="Where the recordings storage is mounted.")
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=HTTP_PORT, ge=0, le=65535)


def parse_recorder_config(text: str) -> RecorderConfig | StandbyConfig:
    """The recorder's configuration: a standby's when it says `standby: true`."""
    data = json.loads(text)
    if isinstance(data, dict) and data.get("standby") is True:
        return StandbyConfig.model_validate(data)
    return RecorderConfig.model_validate(data)


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
