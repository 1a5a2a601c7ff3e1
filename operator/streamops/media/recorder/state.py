"""The recorder's on-disk state: what a restarted recorder continues from, in
`<outputDir>/.recorder-state.json`, always written atomically: the video in progress, the videos
being finalised, the finished ones and, with object storage, each upload not yet verified (its
multipart upload id and the parts the server acknowledged), so a killed recorder resumes it."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from streamops.api.common import KubeModel
from streamops.api.recording import DiscardedFragment, Video
from streamops.contract.worker import UtcTime
from streamops.media.videos.upload_state import UploadState

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
    wall_start: float | None = Field(
        default=None,
        description="Where its time zero was live on the wall clock (epoch seconds): the least, over its FFmpeg's "
        "progress reports, of the report's time less the media written by then. The gap to the next part's is "
        "the broadcast's time between them, kept in the video as a freeze.",
    )


class VideoState(KubeModel):
    name: str = Field(description="File name stem of the final video.")
    started_at: datetime
    last_data_at: datetime | None = None
    parts: list[PartState] = Field(default_factory=list)
    ffmpeg_pid: int | None = None
    origin_parts: list[PartState] = Field(
        default_factory=list,
        description="keepOrigin: the origin feed's parts over the same span, joined into <name>-origin.mp4.",
    )
    origin_ffmpeg_pid: int | None = None

    def all_parts(self) -> list[PartState]:
        """Every part on disk: the video's and its original's."""
        return [*self.parts, *self.origin_parts]


class RecorderState(KubeModel):
    started_at: UtcTime | None = None
    ended_at: UtcTime | None = None
    stopped: bool = False
    current: VideoState | None = None
    closing: list[VideoState] = Field(default_factory=list)
    videos: list[Video] = Field(default_factory=list)  # as /status and the Recording show them
    discarded: list[DiscardedFragment] = Field(default_factory=list)
    uploads: list[UploadState] = Field(default_factory=list)  # in the order the videos ended
    released: bool = Field(
        default=False,
        description="Handed over by a recorder that released it (POST /handover/release) and not taken yet: the "
        "recorder that loads it next clears this and writes it at once, which tells the one that released it that "
        "the video is no longer its own to take back.",
    )
