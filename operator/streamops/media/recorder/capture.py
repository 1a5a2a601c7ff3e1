"""Capture: waits for the feed, records it part by part (FFmpeg copying it into fragmented MP4),
reconnects within the window, closes a video when it is full, its source is gone or the disk is
short, and picks up what a killed recorder left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from streamops.contract.recorder import Phase, RecorderConfig
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess, Progress
from streamops.media.metrics_text import Count
from streamops.media.recorder.commands import input_start, part_command
from streamops.media.recorder.disk import file_size
from streamops.media.recorder.origin import OriginCapture
from streamops.media.recorder.plan import (
    NO_SPACE_MESSAGE,
    PartOutcome,
    after_gap,
    live_start,
    part_name,
    part_outcome,
    part_time_limit,
    reconnect_deadline,
    says_no_space,
    video_is_full,
    video_name,
)
from streamops.media.recorder.state import PartState, RecorderState, VideoState
from streamops.redaction import Redactor

log = logging.getLogger("streamops.recorder")

FEED_POLL_SECONDS = 0.2  # how often a waiting recorder asks the feed; bounds the start latency
FEED_PROBE_TIMEOUT_SECONDS = 2.0
EMPTY_PART_BACKOFF_SECONDS = 1.0  # the feed says live but FFmpeg got nothing: don't spin
STATE_SAVE_INTERVAL_SECONDS = 2.0  # progress is saved this often (about one fragment)


async def feed_status(url: str, timeout: float, headers: dict[str, str] | None = None) -> int | None:
    """The HTTP status the feed answers (200 live, 503 not), None when it cannot be reached.

    A bare HTTP/1.1 request rather than aiohttp's client: importing aiohttp costs ≈0.3 s, and the
    recorder's first FFmpeg must not wait for it (HTTP is served once recording has begun)."""
    parts = urlsplit(url)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            try:
                path = parts.path or "/"
                extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
                head = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}Connection: close\r\n\r\n"
                writer.write(head.encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return None
    fields = status_line.split()
    return int(fields[1]) if len(fields) >= 2 and fields[1].isdigit() else None


def orphan_ffmpeg_alive(pid: int, part_file: str) -> bool:
    """Is `pid` still our FFmpeg writing `part_file` (left behind by a killed recorder)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.endswith(part_file.encode()) for arg in cmdline)


class CaptureOwner(Protocol):
    """What capture asks of the recorder: its state (replaced when it is loaded) and saving it, the
    stop request, and /status (phase, error; `first_attempt` lets the HTTP server start)."""

    phase: Phase
    stop_requested: asyncio.Event
    first_attempt: asyncio.Event

    @property
    def state(self) -> RecorderState: ...

    def save(self) -> None: ...

    def seconds_since_save(self) -> float: ...

    def error(self, message: str) -> None: ...

    def open_videos(self) -> list[VideoState]: ...

    def not_recording(self, phase: Phase) -> None: ...


class CaptureSpace(Protocol):
    """What capture asks of the disk."""

    def short(self, bytes_per_second: float) -> bool: ...

    def stopped_full(self) -> None: ...

    async def wait_for_room(self) -> bool: ...


class VideoCloser(Protocol):
    """What capture asks of finalisation."""

    def close_video(self) -> None: ...

    def finalise_later(self, video: VideoState) -> None: ...


class Capture:
    """Records the feed into the parts of the video in progress (`owner.state.current`)."""

    def __init__(
        self,
        config: RecorderConfig,
        out_dir: Path,
        parts_dir: Path,
        owner: CaptureOwner,
        disk: CaptureSpace,
        closer: VideoCloser,
        feed: FeedAccess,
        redact: Redactor,
        clock: Callable[[], datetime],
        drops: Count,
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.parts_dir = parts_dir
        self.owner = owner
        self.disk = disk
        self.closer = closer
        self.feed = feed
        self.redact = redact
        self.clock = clock
        self.m_drops = drops
        self._space_short = asyncio.Event()  # the progress tick found the disk too full for the open part
        # keepOrigin: the original's parts, recorded while each of the video's parts records (origin.py).
        self.origin = (
            OriginCapture(config.origin_feed_url, parts_dir, owner, feed, redact, clock)
            if config.origin_feed_url
            else None
        )

    async def recover(self) -> None:
        """Pick up what a previous run left: orphan FFmpeg, videos to finalise, the video in progress."""
        state = self.owner.state
        for video in self.owner.open_videos():
            for pid, parts in ((video.ffmpeg_pid, video.parts), (video.origin_ffmpeg_pid, video.origin_parts)):
                if pid and parts and orphan_ffmpeg_alive(pid, parts[-1].file):
                    # Two writers on one part would corrupt it; a truncated part is repaired at finalisation.
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            video.ffmpeg_pid = video.origin_ffmpeg_pid = None
            paths = [self.parts_dir / p.file for p in video.parts]
            mtimes = [path.stat().st_mtime for path in paths if path.exists()]
            if mtimes:
                newest = datetime.fromtimestamp(max(mtimes), UTC)
                video.last_data_at = max(video.last_data_at or newest, newest)
        for video in list(state.closing):
            self.closer.finalise_later(video)
        current = state.current
        if current is not None:
            gap = (self.clock() - (current.last_data_at or current.started_at)).total_seconds()
            log.info("found video %s in progress (%d parts, source gap %.1f s)", current.name, len(current.parts), gap)
            if after_gap(gap, self.config.reconnect_window_seconds) == "new":
                self.closer.close_video()
        self.owner.save()

    async def record_until_stopped(self) -> None:
        window = self.config.reconnect_window_seconds
        stop_requested = self.owner.stop_requested
        while not stop_requested.is_set():
            video = self.owner.state.current
            if video is None:
                if not await self.disk.wait_for_room():
                    return
                if not await self._wait_for_feed(deadline=None, phase="waiting"):
                    return
                video = self._open_video()
            elif video_is_full(self._video_seconds(video), self.config.max_segment_seconds):
                self.closer.close_video()
                continue
            else:
                last_data_at = video.last_data_at or video.started_at
                live = await self._wait_for_feed(reconnect_deadline(last_data_at, window), phase="reconnecting")
                if stop_requested.is_set():
                    return
                if not live or after_gap((self.clock() - last_data_at).total_seconds(), window) == "new":
                    log.info("source gone for %g s or more: closing %s", window, video.name)
                    # Not reconnecting any more before the video is listed as closing: the operator's
                    # recording.stopped then comes before that video's video_ready.
                    self.owner.not_recording("waiting")
                    self.closer.close_video()
                    continue
            outcome = await self._record_part(video)
            if outcome == "split":
                log.info("%s reached maxSegmentSeconds (%g s)", video.name, self.config.max_segment_seconds)
                self.closer.close_video()
            elif outcome == "no_space":
                self.closer.close_video()
            elif outcome == "drop":
                self.m_drops.inc()
                if self.owner.state.current is not None:
                    log.info("source dropped: waiting up to %g s to continue %s", window, video.name)

    async def _wait_for_feed(self, deadline: datetime | None, phase: Phase) -> bool:
        """Poll the feed until it answers 200 (True), or until `deadline` or a stop (False).
        `phase` is what /status says once the feed turns out not to be there."""
        stop_requested = self.owner.stop_requested
        while not stop_requested.is_set():
            if deadline is not None and self.clock() >= deadline:
                return False
            if await feed_status(self.config.feed_url, FEED_PROBE_TIMEOUT_SECONDS, self.feed.header()) == 200:
                return True
            self.owner.not_recording(phase)
            pause = FEED_POLL_SECONDS
            if deadline is not None:
                left = (deadline - self.clock()).total_seconds()
                if left <= 0:
                    return False
                pause = min(pause, left)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_requested.wait(), pause)
        return False

    def _open_video(self) -> VideoState:
        now = self.clock()
        state = self.owner.state
        taken = [Path(v.path).stem for v in state.videos if v.path] + [v.name for v in self.owner.open_videos()]
        taken += [Path(urlsplit(v.url).path).stem for v in state.videos if v.url]
        taken += [p.stem for p in self.out_dir.glob("*.mp4")]
        video = VideoState(name=video_name(now, taken), started_at=now)
        state.current = video
        log.info("new video %s", video.name)
        return video

    def _video_seconds(self, video: VideoState) -> float:
        return sum(p.seconds for p in video.parts)

    async def _record_part(self, video: VideoState) -> PartOutcome:
        limit = part_time_limit(self._video_seconds(video), self.config.max_segment_seconds)
        part = PartState(file=part_name(video.name, [p.file for p in video.parts]))
        video.parts.append(part)
        ffmpeg = await self._start_part(video, part, limit)
        if self.origin is not None:
            self.origin.start(video, limit)  # the original's part, over the same span
        try:
            rc = await self._until_part_ends(ffmpeg)
        finally:
            if self.origin is not None:
                await self.origin.stop()
        video.ffmpeg_pid = None
        return await self._part_ended(video, part, ffmpeg, rc, limit)

    async def _start_part(self, video: VideoState, part: PartState, limit: float) -> FfmpegProcess:
        """The part's FFmpeg, started: its progress moves the part on, its input dump places it on the feed."""
        owner = self.owner
        part_path = self.parts_dir / part.file

        def on_progress(progress: Progress) -> None:
            seconds = progress.out_time_us / 1e6
            if progress.total_size <= 0 or seconds <= part.seconds:
                return  # nothing on disk yet, or no new media since the last report
            part.seconds = seconds  # in memory at once (/status), on disk every few seconds
            now = self.clock()
            video.last_data_at = now
            part.wall_start = live_start(part.wall_start, now.timestamp(), seconds)  # a gap's measure
            if owner.phase != "recording":
                owner.phase = "recording"
                owner.state.started_at = owner.state.started_at or video.started_at
                log.info("recording %s (part %s)", video.name, part.file)
            if owner.seconds_since_save() >= STATE_SAVE_INTERVAL_SECONDS:
                owner.save()
            if not self._space_short.is_set() and self.disk.short(progress.total_size / seconds):
                self._space_short.set()  # close the video while finalising it still fits

        feed_url = self.config.feed_url
        argv = self.feed.ffmpeg_argv(part_command(feed_url, str(part_path), limit), feed_url)
        ffmpeg = FfmpegProcess("record", argv, self.redact, log)
        ffmpeg.on_progress = on_progress

        def on_stderr(line: str) -> None:
            if part.source_start is None and (start := input_start(line)) is not None:
                part.source_start, part.source_read_at = start, self.clock().timestamp()
                owner.save()  # a recorder killed now must still know where this part lies on the feed

        ffmpeg.on_stderr = on_stderr
        await ffmpeg.start()
        owner.first_attempt.set()
        video.ffmpeg_pid = ffmpeg.pid
        owner.save()  # before any byte lands: a restart must know this part exists
        return ffmpeg

    async def _until_part_ends(self, ffmpeg: FfmpegProcess) -> int:
        """FFmpeg's exit code once it ends by itself, or is stopped by a stop or a short disk."""
        self._space_short.clear()
        exited = asyncio.ensure_future(ffmpeg.wait())
        stop = asyncio.ensure_future(self.owner.stop_requested.wait())
        full = asyncio.ensure_future(self._space_short.wait())
        try:
            await asyncio.wait({exited, stop, full}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            full.cancel()
            if not exited.done():
                await ffmpeg.stop()  # SIGTERM: FFmpeg writes its last fragment
            rc = await exited
        return rc

    async def _part_ended(
        self, video: VideoState, part: PartState, ffmpeg: FfmpegProcess, rc: int, limit: float
    ) -> PartOutcome:
        """Why the part ended; a part that holds nothing is dropped from the video."""
        owner = self.owner
        stopping = owner.stop_requested.is_set()
        disk_full = says_no_space("\n".join(ffmpeg.tail))
        no_space = self._space_short.is_set() or disk_full
        # Killed by a signal (negative), or its last writes failed: it may end in a partial fragment.
        part.closed = rc >= 0 and not disk_full
        if no_space:
            self.disk.stopped_full()
            owner.error(NO_SPACE_MESSAGE)
        part_path = self.parts_dir / part.file
        if part.seconds <= 0 or file_size(part_path) == 0:
            return await self._empty_part(video, part, ffmpeg, rc, stopping, no_space)
        owner.save()
        outcome = part_outcome(part.seconds, limit, stopping, no_space)
        if outcome == "drop" and rc != 0:
            owner.error(f"feed failed: {ffmpeg.last_error() or f'ffmpeg exited {rc}'}")
        return outcome

    async def _empty_part(
        self, video: VideoState, part: PartState, ffmpeg: FfmpegProcess, rc: int, stopping: bool, no_space: bool
    ) -> PartOutcome:
        """A part without media: removed (a video of none is no video); after a drop, a pause."""
        owner = self.owner
        video.parts.remove(part)
        (self.parts_dir / part.file).unlink(missing_ok=True)
        if not stopping and not no_space:
            owner.error(f"feed gave no media: {ffmpeg.last_error() or f'ffmpeg exited {rc}'}")
        if not video.parts and owner.state.current is video:
            owner.state.current = None  # nothing recorded: not a video (nor an original)
            for origin_part in video.origin_parts:
                (self.parts_dir / origin_part.file).unlink(missing_ok=True)
        owner.save()
        if stopping:
            return "stopped"
        if no_space:
            return "no_space"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(owner.stop_requested.wait(), EMPTY_PART_BACKOFF_SECONDS)
        return "drop"
