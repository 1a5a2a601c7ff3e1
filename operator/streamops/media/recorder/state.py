"""The recorder's on-disk state: what a restarted recorder continues from, in
`<outputDir>/.recorder-state.json`, always written atomically: the video in progress, the videos
being finalised, the finished ones and, with object storage, each upload not yet verified (its
multipart upload id and the parts the server acknowledged), so a killed recorder resumes it."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

from pydantic import Field

from streamops.api.common import KubeModel
from streamops.api.recording import DiscardedFragment, Video
from streamops.contract.worker import UtcTime

STATE_FILE = ".recorder-state.json"
PARTS_DIR = ".parts"


class PartState(KubeModel):
    file: str = Field(description="File name inside the parts directory.")
    seconds: float = 0.0
    closed: bool = Field(default=False, description="Its FFmpeg ended by itself or on SIGTERM (trailer written).")
    source_start: float | None = Field(
        default=None,
        description="The feed's timestamp (s) at the part's time zero, as its FFmpeg read it: a part that "
        "starts inside the previous part's span replays what that part holds (the feed's GOP cache).",
    )
    source_read_at: float | None = Field(
        default=None, description="When (epoch seconds, wall clock) its FFmpeg read that first timestamp."
    )


class VideoState(KubeModel):
    name: str = Field(description="File name stem of the final video.")
    started_at: datetime
    last_data_at: datetime | None = None
    parts: list[PartState] = Field(default_factory=list)
    ffmpeg_pid: int | None = None


class UploadedPart(KubeModel):
    number: int = Field(ge=1)
    etag: str
    size: int = Field(ge=0)


class UploadState(KubeModel):
    """A finished video on its way to the bucket; it leaves the state once the object is verified."""

    file: str = Field(description="The video's file name in the output directory.")
    key: str = Field(description="Its object key.")
    part_size: int = Field(ge=1)
    upload_id: str | None = Field(default=None, description="The multipart upload, once created.")
    parts: list[UploadedPart] = Field(default_factory=list, description="Parts the server acknowledged.")


class RecorderState(KubeModel):
    started_at: UtcTime | None = None
    ended_at: UtcTime | None = None
    stopped: bool = False
    current: VideoState | None = None
    closing: list[VideoState] = Field(default_factory=list)
    videos: list[Video] = Field(default_factory=list)  # as /status and the Recording show them
    discarded: list[DiscardedFragment] = Field(default_factory=list)
    uploads: list[UploadState] = Field(default_factory=list)  # in the order the videos ended


def write_atomically(path: Path, text: str) -> None:
    """Write-then-rename (fsynced): a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: give back what the half-written copy took
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
