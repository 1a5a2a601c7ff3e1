"""keepOrigin: the untouched original recorded beside a transcoded recording's video.

The video's timeline is the transcoded feed's (capture.py decides reconnects, cuts and stops on it);
while each of its parts records, `OriginCapture` copies the ingest's origin feed into the
original's parts (`VideoState.origin_parts`, fragmented MP4 like the video's), and ends its part
when the video's part ends. So a gap within the reconnect window, a `maxSegmentSeconds` cut, a
stop, a kill and a restart (orphans killed, replays cut, damaged parts repaired) apply to the
original as to the video: finalise.py joins both part lists the same way, into `<name>.mp4` and
`<name>-origin.mp4`. One recorder process, one Pod: a second copy remux (≈2 % of a core, ≈15 MiB)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess, Progress
from streamops.media.recorder.commands import input_start, part_command
from streamops.media.recorder.disk import file_size
from streamops.media.recorder.plan import live_start, origin_name, part_name, says_no_space
from streamops.media.recorder.state import PartState, VideoState
from streamops.redaction import Redactor

log = logging.getLogger("streamops.recorder")

ORIGIN_RETRY_SECONDS = 1.0  # the origin feed ended while the video's part goes on: try again after this


class OriginOwner(Protocol):
    """What the original's capture asks of the recorder: saving the state, and /status's error."""

    def save(self) -> None: ...

    def error(self, message: str) -> None: ...


class OriginCapture:
    """Copies the origin feed into the original's parts while one of the video's parts records."""

    def __init__(
        self,
        feed_url: str,
        parts_dir: Path,
        owner: OriginOwner,
        feed: FeedAccess,
        redact: Redactor,
        clock: Callable[[], datetime],
    ) -> None:
        self.feed_url = feed_url
        self.parts_dir = parts_dir
        self.owner = owner
        self.feed = feed
        self.redact = redact
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._part_over = asyncio.Event()

    def start(self, video: VideoState, limit: float) -> None:
        """The video's part (at most `limit` s) has started: the original's part starts beside it."""
        self._part_over = asyncio.Event()
        self._task = asyncio.create_task(self._record(video, limit))

    async def stop(self) -> None:
        """The video's part has ended: so does the original's (SIGTERM: FFmpeg writes its last fragment)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._part_over.set()
        try:
            await task
        except Exception as e:  # the original must never take the video down with it
            self.owner.error(f"recording the original failed: {e}")
            log.exception("origin part")

    async def _record(self, video: VideoState, limit: float) -> None:
        while not self._part_over.is_set():
            part = PartState(file=part_name(origin_name(video.name), [p.file for p in video.origin_parts]))
            video.origin_parts.append(part)
            ffmpeg = await self._start_part(video, part, limit)
            rc = await self._until_part_ends(ffmpeg)
            video.origin_ffmpeg_pid = None
            part.closed = rc >= 0 and not says_no_space("\n".join(ffmpeg.tail))
            if part.seconds <= 0 or file_size(self.parts_dir / part.file) == 0:
                video.origin_parts.remove(part)
                (self.parts_dir / part.file).unlink(missing_ok=True)
                if not self._part_over.is_set():
                    self.owner.error(f"origin feed gave no media: {ffmpeg.last_error() or f'ffmpeg exited {rc}'}")
            self.owner.save()
            if self._part_over.is_set():
                return
            # The origin feed ended before the video's part did (a hiccup of its own): a new part of
            # the original, after a pause, until the video's part ends.
            log.info("origin feed of %s ended before the video's part: trying again", video.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._part_over.wait(), ORIGIN_RETRY_SECONDS)

    async def _start_part(self, video: VideoState, part: PartState, limit: float) -> FfmpegProcess:
        def on_progress(progress: Progress) -> None:
            seconds = progress.out_time_us / 1e6
            if progress.total_size > 0 and seconds > part.seconds:
                part.seconds = seconds
                part.wall_start = live_start(part.wall_start, self.clock().timestamp(), seconds)  # as the video's

        def on_stderr(line: str) -> None:
            if part.source_start is None and (start := input_start(line)) is not None:
                part.source_start, part.source_read_at = start, self.clock().timestamp()
                self.owner.save()  # where this part lies on the feed: what a restart's replay cut needs

        argv = self.feed.ffmpeg_argv(part_command(self.feed_url, str(self.parts_dir / part.file), limit), self.feed_url)
        ffmpeg = FfmpegProcess("origin", argv, self.redact, log)
        ffmpeg.on_progress = on_progress
        ffmpeg.on_stderr = on_stderr
        await ffmpeg.start()
        video.origin_ffmpeg_pid = ffmpeg.pid
        self.owner.save()  # before any byte lands: a restart must know this part exists
        return ffmpeg

    async def _until_part_ends(self, ffmpeg: FfmpegProcess) -> int:
        exited = asyncio.ensure_future(ffmpeg.wait())
        over = asyncio.ensure_future(self._part_over.wait())
        try:
            await asyncio.wait({exited, over}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            over.cancel()
            if not exited.done():
                await ffmpeg.stop()
        return await exited
