"""The recorder's on-disk state: what a restarted recorder continues from, in
`<outputDir>/.recorder-state.json`, always written atomically."""

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


class VideoState(KubeModel):
    name: str = Field(description="File name stem of the final video.")
    started_at: datetime
    last_data_at: datetime | None = None
    parts: list[PartState] = Field(default_factory=list)
    ffmpeg_pid: int | None = None


class RecorderState(KubeModel):
    started_at: UtcTime | None = None
    ended_at: UtcTime | None = None
    stopped: bool = False
    current: VideoState | None = None
    closing: list[VideoState] = Field(default_factory=list)
    videos: list[Video] = Field(default_factory=list)  # as /status and the Recording show them
    discarded: list[DiscardedFragment] = Field(default_factory=list)


def write_atomically(path: Path, text: str) -> None:
    """Write-then-rename (fsynced): a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
