"""The Recorder: waits for the feed, records it part by part (reconnects within the window,
splits at maxSegmentSeconds), finalises videos in the background, hands them to the uploader when
they go to object storage, keeps the disk from filling up, and answers `/status`."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import resource
import signal
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from streamops.api.common import client_fields
from streamops.api.recording import DiscardedFragment, Video, VideoRendition
from streamops.contract.recorder import Phase, RecorderConfig, RecorderStatus
from streamops.contract.worker import STOP_PATH, utc_seconds
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import FfmpegProcess, Progress
from streamops.media.fmp4 import readable_length
from streamops.media.recorder.bucket import Bucket
from streamops.media.recorder.commands import (
    join_command,
    part_command,
    probe_codecs,
    probe_duration,
    repair_command,
)
from streamops.media.recorder.plan import (
    NO_SPACE_MESSAGE,
    PartOutcome,
    after_gap,
    concat_list,
    discard_reason,
    part_name,
    part_outcome,
    part_time_limit,
    reconnect_deadline,
    recorded_seconds,
    room_to_join,
    room_to_record,
    says_no_space,
    space_short,
    stored_bytes,
    video_is_full,
    video_name,
    video_title,
)
from streamops.media.recorder.renditions import derive_command, derived, hidden, rendition_file
from streamops.media.recorder.state import PARTS_DIR, STATE_FILE, PartState, RecorderState, VideoState, write_atomically
from streamops.media.recorder.upload import Uploader
from streamops.media.worker_metrics import counter, read_counter, read_gauge, worker_registry
from streamops.media.worker_process import utc_now
from streamops.redaction import Redactor

if TYPE_CHECKING:
    from streamops.media.small_http import Route

log = logging.getLogger("streamops.recorder")

FEED_POLL_SECONDS = 0.2  # how often a waiting recorder asks the feed; bounds the start latency
FEED_PROBE_TIMEOUT_SECONDS = 2.0
JOIN_TOLERANCE_SECONDS = 1.0  # a joined video this much shorter than its parts lost some: repair
EMPTY_PART_BACKOFF_SECONDS = 1.0  # the feed says live but FFmpeg got nothing: don't spin
STATE_SAVE_INTERVAL_SECONDS = 2.0  # progress is saved this often (about one fragment)
EXIT_GIVE_UP_FAILURES = 3  # after SIGTERM, uploads failing this many times in a row: exit anyway
SPACE_POLL_SECONDS = 1.0  # how often a recorder waiting for disk space looks again


class OutOfSpace(Exception):
    """An FFmpeg run of the finalisation failed with ENOSPC: the parts stay, it is retried later."""


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


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def children_cpu_seconds() -> float:
    """CPU (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_bytes(path: Path) -> int:
    """Space an unprivileged writer may still use on the file system of `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def orphan_ffmpeg_alive(pid: int, part_file: str) -> bool:
    """Is `pid` still our FFmpeg writing `part_file` (left behind by a killed recorder)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(arg.endswith(part_file.encode()) for arg in cmdline)


class Recorder:
    def __init__(
        self,
        config: RecorderConfig,
        clock: Callable[[], datetime] = utc_now,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.out_dir = Path(config.recordings_root) / config.directory
        self.parts_dir = self.out_dir / PARTS_DIR
        self.state_path = self.out_dir / STATE_FILE
        self.state = RecorderState()
        self.phase: Phase = "waiting"
        self.last_error = ""
        query = urlsplit(config.feed_url).query
        self.redact = Redactor([query] if query else [])  # a token in the feed URL never leaves
        self.feed = FeedAccess(CredentialCheck(config.credential_file))  # presented to the ingest
        self.stop_requested = asyncio.Event()
        self.exit_requested = asyncio.Event()  # SIGTERM/SIGINT: stop, then the process exits
        self.stopped = asyncio.Event()
        self.first_attempt = asyncio.Event()  # the first FFmpeg started, or the feed is not live
        self._finalise_lock = asyncio.Lock()
        self._finalising: set[asyncio.Task[None]] = set()
        self._last_save = 0.0
        self.no_space = False  # the disk is (nearly) full: the open video was closed, none starts
        self._space_short = asyncio.Event()  # the progress tick found the disk too full for the open part
        self._last_full_bytes = 0  # the parts of the last video closed for lack of space

        self.uploader: Uploader | None = None
        if config.upload is not None:
            bucket = Bucket.from_environment(config.upload, self.redact)
            self.uploader = Uploader(
                config.upload,
                self.out_dir,
                bucket,
                lambda: self.state,
                self._save,
                backoff_max_seconds=config.upload_backoff_max_seconds,
            )

        self.registry = registry or worker_registry()
        self._metrics()

    def _metrics(self) -> None:
        """The catalogue's recorder metrics (contract/metrics.py): the upload ones only when uploading."""
        registry, labels = self.registry, {"stream": self.config.stream, "recording": self.config.recording}
        read_gauge("streamops_recorder_recording", "recorder", registry, labels, lambda: 1 if self.recording else 0)
        read_gauge("streamops_recorder_recorded_seconds", "recorder", registry, labels, self._recorded_seconds)
        self.m_videos = counter("streamops_recorder_videos_total", "recorder", registry).labels(**labels)
        self.m_discarded = counter("streamops_recorder_discarded_total", "recorder", registry).labels(**labels)
        self.m_errors = counter("streamops_recorder_errors_total", "recorder", registry).labels(**labels)
        self.m_drops = counter("streamops_recorder_source_drops_total", "recorder", registry).labels(**labels)
        uploader = self.uploader
        if uploader is None:
            return
        read_gauge("streamops_recorder_uploads_pending", "recorder", registry, labels, lambda: uploader.pending)
        read_gauge(
            "streamops_recorder_upload_lag_seconds",
            "recorder",
            registry,
            labels,
            lambda: uploader.lag_seconds(self.clock()),
        )
        read_counter(
            "streamops_recorder_uploaded_bytes_total", "recorder", registry, labels, lambda: uploader.bytes_sent
        )
        read_counter(
            "streamops_recorder_upload_failures_total", "recorder", registry, labels, lambda: uploader.failed_attempts
        )

    # -- telemetry --

    def status(self) -> RecorderStatus:
        s = self.state
        uploader = self.uploader
        return RecorderStatus(
            state=self.phase,
            recording=self.recording,
            started_at=s.started_at,
            ended_at=s.ended_at,
            duration=self._recorded_seconds(),
            videos=s.videos,
            discarded=s.discarded,
            last_error=self.last_error or None,
            stored_bytes=stored_bytes(s.videos, self._unjoined_bytes()),
            no_space=self.no_space,
            storage_problem=uploader.problem if uploader else None,
            storage_error=uploader.error if uploader else None,
        )

    def _recorded_seconds(self) -> float:
        return recorded_seconds(self.state.videos, self._open_videos())

    @property
    def recording(self) -> bool:
        return self.phase in ("recording", "reconnecting")

    def ready(self) -> bool:
        return self.phase == "recording"

    def routes(self) -> dict[tuple[str, str], Route]:
        from streamops.media.small_http import Reply, registry_metrics, worker_routes

        async def stop(_: bytes) -> Reply:
            self.stop_requested.set()
            await self.stopped.wait()
            return Reply.json(self.status().to_json_dict())

        return {
            **worker_routes(self.status, self.ready, registry_metrics(lambda: self.registry)),
            ("POST", STOP_PATH): stop,
        }

    def request_exit(self) -> None:
        self.exit_requested.set()
        self.stop_requested.set()

    def _open_videos(self) -> list[VideoState]:
        return [*self.state.closing, *([self.state.current] if self.state.current else [])]

    def _error(self, message: str) -> None:
        self.last_error = self.redact(message)
        log.warning("%s", self.last_error)

    # -- disk space --

    def _unjoined_bytes(self) -> int:
        """Bytes of the parts on disk: what finalising the open videos will copy."""
        return sum(file_size(self.parts_dir / p.file) for v in self._open_videos() for p in v.parts)

    def _free_bytes(self) -> int:
        try:
            return free_bytes(self.out_dir)
        except OSError:
            return 0

    async def _wait_for_room(self) -> bool:
        """Before a new video: wait while the disk has no room for one (False: stopped meanwhile)."""
        while not self.stop_requested.is_set():
            min_free = self.config.min_free_bytes
            if room_to_record(self._free_bytes(), self._unjoined_bytes(), min_free, self._last_full_bytes):
                if self.no_space:
                    log.info("space on the recordings volume is back: recording again")
                    self.no_space = False
                    if self.last_error.startswith("no space left"):
                        self.last_error = ""
                return True
            if not self.no_space:
                self.no_space = True
                self._error("no space left on the recordings volume: waiting for space to record")
            self.phase = "waiting"
            self.first_attempt.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), SPACE_POLL_SECONDS)
        return False

    async def _wait_for_join_room(self, video: VideoState) -> bool:
        """A join failed with ENOSPC: wait until its copy fits (False: the process is exiting)."""
        parts = sum(file_size(self.parts_dir / p.file) for p in video.parts)
        while not self.exit_requested.is_set():
            if room_to_join(self._free_bytes(), parts):
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), SPACE_POLL_SECONDS)
        return False

    # -- state file --

    def _save(self) -> None:
        try:
            write_atomically(self.state_path, self.state.model_dump_json(by_alias=True, indent=1))
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            # The reserve (minFreeBytes) normally prevents this; the previous state file stands.
            self.no_space = True
            log.warning("state file not saved: no space left on the recordings volume")
        self._last_save = time.monotonic()

    def _load(self) -> None:
        try:
            self.state = RecorderState.model_validate_json(self.state_path.read_text())
        except FileNotFoundError:
            self.state = RecorderState()
        except ValueError as e:
            # Unreadable state must not stop recording; the parts stay on disk for a human.
            self._error(f"state file unreadable, starting afresh: {e}")
            self.state = RecorderState()

    # -- main loop --

    async def run(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.parts_dir.mkdir(exist_ok=True)
        self._load()
        self._drop_uploaded_copies()
        # Uploads (and boto3's import) wait for the first FFmpeg: recording starts as fast as without.
        uploading = asyncio.create_task(self._upload_once_started()) if self.uploader else None
        try:
            if not self.state.stopped:
                self.state.ended_at = None  # left by a run that ended on SIGTERM: this one is not over
                await self._recover()
                try:
                    await self._record_until_stopped()
                finally:
                    if self.state.current is not None:
                        self._close_video()
            while self._finalising:  # finishing a video may not be cut short by the stop
                await asyncio.gather(*list(self._finalising), return_exceptions=True)
            if not self.state.stopped:
                self.state.ended_at = self.clock()
                # POST /stop is stop_recording: it sticks across restarts. SIGTERM (pod deleted, node
                # drained) only ends this process: a replacement recorder records again.
                self.state.stopped = not self.exit_requested.is_set()
                self._save()
            self.first_attempt.set()
            await self._wait_for_uploads()
        finally:
            if uploading is not None:
                uploading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await uploading
        self.phase = "stopped"
        self.stopped.set()
        self.first_attempt.set()
        log.info("stopped: %d video(s), %d discarded", len(self.state.videos), len(self.state.discarded))

    async def _upload_once_started(self) -> None:
        assert self.uploader is not None
        await self.first_attempt.wait()
        await self.uploader.run()

    async def _wait_for_uploads(self) -> None:
        """ "stopped" means every video is in the bucket: after POST /stop wait for the uploads however
        long the storage takes; after SIGTERM only for config.exit_upload_seconds (a little under the
        Pod's grace period), then exit: the state file keeps the rest for a restart in the same Pod."""
        if self.uploader is None or not self.uploader.pending:
            return
        self.phase = "waiting"  # not recording any more, not done either
        log.info("waiting for %d video(s) to be uploaded", self.uploader.pending)
        drained = asyncio.ensure_future(self.uploader.drained())
        try:
            if not self.exit_requested.is_set():
                exiting = asyncio.ensure_future(self.exit_requested.wait())
                await asyncio.wait({drained, exiting}, return_when=asyncio.FIRST_COMPLETED)
                exiting.cancel()
            if not drained.done():
                # SIGTERM: up to exit_upload_seconds, unless the storage keeps failing (3 in a row,
                # ≈7 s of backoff: a blip is waited out, wrong credentials are not).
                drained.cancel()
                drained = asyncio.ensure_future(self.uploader.drained(give_up_after_failures=EXIT_GIVE_UP_FAILURES))
                await asyncio.wait({drained}, timeout=self.config.exit_upload_seconds)
            if self.uploader.pending:
                log.warning("exiting with %d video(s) not uploaded: the state file keeps them", self.uploader.pending)
        finally:
            drained.cancel()

    def _drop_uploaded_copies(self) -> None:
        """Local copies of uploaded videos left by a run killed between marking and deleting them."""
        for video in self.state.videos:
            entries: list[Video | VideoRendition] = [video, *video.renditions]
            for entry in entries:
                if entry.upload == "uploaded" and entry.url:
                    name = Path(urlsplit(entry.url).path).name
                    for leftover in (self.out_dir / name, (self.out_dir / name).with_suffix(".json")):
                        leftover.unlink(missing_ok=True)

    async def _recover(self) -> None:
        """Pick up what a previous run left: orphan FFmpeg, videos to finalise, the video in progress."""
        for video in self._open_videos():
            if video.ffmpeg_pid and video.parts and orphan_ffmpeg_alive(video.ffmpeg_pid, video.parts[-1].file):
                # Two writers on one part would corrupt it; a truncated part is repaired at finalisation.
                with contextlib.suppress(OSError):
                    os.kill(video.ffmpeg_pid, signal.SIGKILL)
            video.ffmpeg_pid = None
            paths = [self.parts_dir / p.file for p in video.parts]
            mtimes = [path.stat().st_mtime for path in paths if path.exists()]
            if mtimes:
                newest = datetime.fromtimestamp(max(mtimes), UTC)
                video.last_data_at = max(video.last_data_at or newest, newest)
        for video in list(self.state.closing):
            self._finalise_later(video)
        current = self.state.current
        if current is not None:
            gap = (self.clock() - (current.last_data_at or current.started_at)).total_seconds()
            log.info("found video %s in progress (%d parts, source gap %.1f s)", current.name, len(current.parts), gap)
            if after_gap(gap, self.config.reconnect_window_seconds) == "new":
                self._close_video()
        self._save()

    async def _record_until_stopped(self) -> None:
        window = self.config.reconnect_window_seconds
        while not self.stop_requested.is_set():
            video = self.state.current
            if video is None:
                if not await self._wait_for_room():
                    return
                if not await self._wait_for_feed(deadline=None, phase="waiting"):
                    return
                video = self._open_video()
            elif video_is_full(self._video_seconds(video), self.config.max_segment_seconds):
                self._close_video()
                continue
            else:
                last_data_at = video.last_data_at or video.started_at
                live = await self._wait_for_feed(reconnect_deadline(last_data_at, window), phase="reconnecting")
                if self.stop_requested.is_set():
                    return
                if not live or after_gap((self.clock() - last_data_at).total_seconds(), window) == "new":
                    log.info("source gone for %g s or more: closing %s", window, video.name)
                    self._close_video()
                    continue
            outcome = await self._record_part(video)
            if outcome == "split":
                log.info("%s reached maxSegmentSeconds (%g s)", video.name, self.config.max_segment_seconds)
                self._close_video()
            elif outcome == "no_space":
                self._close_video()
            elif outcome == "drop":
                self.m_drops.inc()
                if self.state.current is not None:
                    log.info("source dropped: waiting up to %g s to continue %s", window, video.name)

    async def _wait_for_feed(self, deadline: datetime | None, phase: Phase) -> bool:
        """Poll the feed until it answers 200 (True), or until `deadline` or a stop (False).
        `phase` is what /status says once the feed turns out not to be there."""
        while not self.stop_requested.is_set():
            if deadline is not None and self.clock() >= deadline:
                return False
            if await feed_status(self.config.feed_url, FEED_PROBE_TIMEOUT_SECONDS, self.feed.header()) == 200:
                return True
            self.phase = phase
            self.first_attempt.set()
            pause = FEED_POLL_SECONDS
            if deadline is not None:
                left = (deadline - self.clock()).total_seconds()
                if left <= 0:
                    return False
                pause = min(pause, left)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), pause)
        return False

    def _open_video(self) -> VideoState:
        now = self.clock()
        taken = [Path(v.path).stem for v in self.state.videos if v.path] + [v.name for v in self._open_videos()]
        taken += [Path(urlsplit(v.url).path).stem for v in self.state.videos if v.url]
        taken += [p.stem for p in self.out_dir.glob("*.mp4")]
        video = VideoState(name=video_name(now, taken), started_at=now)
        self.state.current = video
        log.info("new video %s", video.name)
        return video

    def _video_seconds(self, video: VideoState) -> float:
        return sum(p.seconds for p in video.parts)

    async def _record_part(self, video: VideoState) -> PartOutcome:
        limit = part_time_limit(self._video_seconds(video), self.config.max_segment_seconds)
        part = PartState(file=part_name(video.name, [p.file for p in video.parts]))
        part_path = self.parts_dir / part.file
        video.parts.append(part)

        def on_progress(progress: Progress) -> None:
            seconds = progress.out_time_us / 1e6
            if progress.total_size <= 0 or seconds <= part.seconds:
                return  # nothing on disk yet, or no new media since the last report
            part.seconds = seconds  # in memory at once (/status), on disk every few seconds
            video.last_data_at = self.clock()
            if self.phase != "recording":
                self.phase = "recording"
                self.state.started_at = self.state.started_at or video.started_at
                log.info("recording %s (part %s)", video.name, part.file)
            if time.monotonic() - self._last_save >= STATE_SAVE_INTERVAL_SECONDS:
                self._save()
            if not self._space_short.is_set() and space_short(
                self._free_bytes(), self._unjoined_bytes(), self.config.min_free_bytes
            ):
                self._space_short.set()  # close the video while finalising it still fits

        feed_url = self.config.feed_url
        argv = self.feed.ffmpeg_argv(part_command(feed_url, str(part_path), limit), feed_url)
        ffmpeg = FfmpegProcess("record", argv, self.redact, log)
        ffmpeg.on_progress = on_progress
        await ffmpeg.start()
        self.first_attempt.set()
        video.ffmpeg_pid = ffmpeg.pid
        self._save()  # before any byte lands: a restart must know this part exists

        self._space_short.clear()
        exited = asyncio.ensure_future(ffmpeg.wait())
        stop = asyncio.ensure_future(self.stop_requested.wait())
        full = asyncio.ensure_future(self._space_short.wait())
        try:
            await asyncio.wait({exited, stop, full}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            full.cancel()
            if not exited.done():
                await ffmpeg.stop()  # SIGTERM: FFmpeg writes its last fragment
            rc = await exited

        video.ffmpeg_pid = None
        stopping = self.stop_requested.is_set()
        disk_full = says_no_space("\n".join(ffmpeg.tail))
        no_space = self._space_short.is_set() or disk_full
        # Killed by a signal (negative), or its last writes failed: it may end in a partial fragment.
        part.closed = rc >= 0 and not disk_full
        if no_space:
            self.no_space = True
            self._last_full_bytes = max(self._last_full_bytes, self._unjoined_bytes())
            self._error(NO_SPACE_MESSAGE)
        if part.seconds <= 0 or file_size(part_path) == 0:
            video.parts.remove(part)
            part_path.unlink(missing_ok=True)
            if not stopping and not no_space:
                self._error(f"feed gave no media: {ffmpeg.last_error() or f'ffmpeg exited {rc}'}")
            if not video.parts and self.state.current is video:
                self.state.current = None  # nothing recorded: not a video
            self._save()
            if stopping:
                return "stopped"
            if no_space:
                return "no_space"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), EMPTY_PART_BACKOFF_SECONDS)
            return "drop"
        self._save()
        outcome = part_outcome(part.seconds, limit, stopping, no_space)
        if outcome == "drop" and rc != 0:
            self._error(f"feed failed: {ffmpeg.last_error() or f'ffmpeg exited {rc}'}")
        return outcome

    # -- finalisation --

    def _close_video(self) -> None:
        video = self.state.current
        if video is None:
            return
        self.state.current = None
        self.state.closing.append(video)
        self._save()
        self._finalise_later(video)

    def _finalise_later(self, video: VideoState) -> None:
        task = asyncio.create_task(self._finalise(video))
        self._finalising.add(task)
        task.add_done_callback(self._finalising.discard)

    async def _finalise(self, video: VideoState) -> None:
        async with self._finalise_lock:  # one join at a time, in order
            while True:
                try:
                    try:
                        await self._finalise_video(video)
                    except OSError as e:  # the concat list, the sidecar: written by us, not FFmpeg
                        if e.errno == errno.ENOSPC:
                            raise OutOfSpace(str(e)) from e
                        raise
                except OutOfSpace:  # never lose parts to a full disk: join them once there is room
                    self.m_errors.inc()
                    self.no_space = True
                    self._error(f"finalising {video.name}: no space left on the recordings volume; parts kept")
                    if await self._wait_for_join_room(video):
                        continue
                except Exception as e:  # keep recording; the parts stay for the next start to retry
                    self.m_errors.inc()
                    self._error(f"finalising {video.name} failed: {e}")
                    log.exception("finalising %s", video.name)
                return

    async def _finalise_video(self, video: VideoState) -> None:
        parts = [p for p in video.parts if file_size(self.parts_dir / p.file) > 0]
        for part in parts:
            self._cut_partial_box(part)
            if not part.closed:
                await self._repair(part)
        durations: list[float] = []
        for part in list(parts):
            seconds = await probe_duration(self.parts_dir / part.file)
            if seconds is None and part.closed:  # closed but unreadable after all: try a remux
                await self._repair(part)
                seconds = await probe_duration(self.parts_dir / part.file)
            if not seconds:
                self._error(f"{part.file} holds no readable media: left out of {video.name}")
                parts.remove(part)
                continue
            part.seconds = seconds
            durations.append(seconds)
        total = sum(durations)
        ended_at = video.last_data_at or self.clock()

        reason = discard_reason(total, self.config.min_duration_seconds) if parts else "no readable media recorded"
        if reason is not None:
            log.warning("%s: %s", video.name, reason)
            self.state.discarded.append(
                DiscardedFragment(reason=reason[:1024], duration_seconds=round(total, 3), at=utc_seconds(ended_at))
            )
            self.m_discarded.inc()
            self._forget(video)
            return

        final = self.out_dir / f"{video.name}.mp4"
        joined = await self._join(video.name, parts)
        seconds = await probe_duration(joined)
        if seconds is None or seconds < total - JOIN_TOLERANCE_SECONDS:
            # The concat demuxer stops at a damaged sample and still exits 0: remux every part, join again.
            log.warning("%s: joined %.1f s of %.1f s, repairing parts", video.name, seconds or 0, total)
            for part in parts:
                await self._repair(part)
            joined = await self._join(video.name, parts)
            seconds = await probe_duration(joined)
            if seconds is None:
                raise RuntimeError("joined file is not readable")
        os.replace(joined, final)
        renditions = await self._renditions(final)
        info = Video(
            title=video_title(self.config.title, ended_at)[:512],
            path=f"{self.config.directory}/{final.name}",  # relative to the recordings root, as status shows it
            duration_seconds=round(seconds, 3),
            size_bytes=file_size(final),
            started_at=utc_seconds(video.started_at),
            ended_at=utc_seconds(ended_at),
            renditions=renditions,
        )
        if self.uploader is not None:
            self.uploader.enqueue(info, final.name)  # saved with the state below, in one write
            if renditions:
                renditions[0].url, renditions[0].upload = info.url, info.upload  # the video's own file
            for r in renditions[1:]:
                self.uploader.enqueue_rendition(info, r, Path(r.path or "").name)
        # The video as /status shows it, and the stream's client fields when set.
        sidecar = {**info.model_dump(mode="json", by_alias=True), **client_fields(self.config.client)}
        write_atomically(final.with_suffix(".json"), json.dumps(sidecar, indent=2) + "\n")
        self.state.videos.append(info)
        self.m_videos.inc()
        log.info("video %s: %.1f s, %d bytes, from %d part(s)", final.name, seconds, info.size_bytes, len(parts))
        self._forget(video)

    async def _renditions(self, final: Path) -> list[VideoRendition]:
        """A transcoded recording's renditions (config.renditions, tallest first: `final` is the
        tallest): the others derived from `final` into MP4s next to it. A failed derivation, a full
        disk included, keeps the video with the renditions it has (an error in /status): the video
        comes first, and retrying on a volume that stays full would re-encode it again and again."""
        ladder = self.config.renditions
        if not ladder:
            return []
        outputs = [(r, self.out_dir / rendition_file(final.name, r.name)) for r in derived(ladder)]
        made = [(ladder[0], final)]
        if outputs:
            # (CPU of the children reaped meanwhile: the derivation's FFmpeg, and a part's if one ended)
            began, cpu = time.monotonic(), children_cpu_seconds()
            argv = derive_command(str(final), [(r, str(hidden(p))) for r, p in outputs], self.config.segment_seconds)
            try:
                rc = await self._ffmpeg("renditions", argv)
            except OutOfSpace:
                self._error(f"{final.name}: no space left on the recordings volume for its other renditions")
                rc = -1
            for r, path in outputs:
                if rc == 0 and file_size(hidden(path)) > 0:
                    os.replace(hidden(path), path)
                    made.append((r, path))
                else:
                    hidden(path).unlink(missing_ok=True)
            log.info(
                "%s: %d rendition(s) derived in %.1f s, %.1f s of CPU",
                final.name,
                len(made) - 1,
                time.monotonic() - began,
                children_cpu_seconds() - cpu,
            )
        found = []
        for r, path in made:
            video = (await probe_codecs(path)).get("video") or {}
            found.append(
                VideoRendition(
                    name=r.name,
                    width=int(video.get("width") or 0),
                    height=int(video.get("height") or r.height),
                    path=f"{self.config.directory}/{path.name}",
                    size_bytes=file_size(path),
                )
            )
        return found

    def _forget(self, video: VideoState) -> None:
        """The video is done with (finalised or discarded): drop it from the state, then its parts."""
        self.state.closing = [v for v in self.state.closing if v is not video]
        self._save()
        for part in video.parts:
            (self.parts_dir / part.file).unlink(missing_ok=True)
        (self.parts_dir / f"{video.name}.ffconcat").unlink(missing_ok=True)

    async def _join(self, name: str, parts: Sequence[PartState]) -> Path:
        list_path = self.parts_dir / f"{name}.ffconcat"
        list_path.write_text(concat_list([p.file for p in parts]))
        joined = self.out_dir / f".{name}.joining.mp4"  # hidden until complete
        try:
            await self._ffmpeg("join", join_command(str(list_path), str(joined)))
        except OutOfSpace:
            joined.unlink(missing_ok=True)  # give the space back; the parts are untouched
            raise
        return joined

    def _cut_partial_box(self, part: PartState) -> None:
        """A part whose FFmpeg stopped mid-write (a full disk, a kill) may end inside a moof, which makes
        the whole file unreadable (seen in CI: a part cut by ENOSPC discarded as "no readable media"):
        cut it back to its last complete fragment, which needs no space, before anything reads it."""
        path = self.parts_dir / part.file
        size, keep = file_size(path), readable_length(path)
        if keep < size:
            log.warning("%s ends inside a box (cut short mid-write): %d bytes cut off", part.file, size - keep)
            os.truncate(path, keep)

    async def _repair(self, part: PartState) -> None:
        path = self.parts_dir / part.file
        fixed = path.with_name(f"{path.stem}.fixed.mp4")
        log.info("repairing %s (its FFmpeg did not finish it)", part.file)
        try:
            rc = await self._ffmpeg("repair", repair_command(str(path), str(fixed)))
        except OutOfSpace:
            fixed.unlink(missing_ok=True)
            raise
        # Only a remux that reads back as media replaces the part: a truncated one must never stand
        # in for what was recorded (seen in CI: a repair cut short by a full disk exited 0).
        repaired = await probe_duration(fixed) if rc == 0 and file_size(fixed) > 0 else None
        original = await probe_duration(path) if repaired is not None else None
        if repaired is not None and repaired >= (original or 0) - JOIN_TOLERANCE_SECONDS:
            os.replace(fixed, path)
            part.closed = True
            self._save()
        else:
            fixed.unlink(missing_ok=True)

    async def _ffmpeg(self, name: str, argv: list[str]) -> int:
        proc = await FfmpegProcess(name, argv, self.redact, log).start()
        rc = await proc.wait()
        # FFmpeg 5.1 exits 0 when ENOSPC hits its last writes ("Error closing file ...: No space left
        # on device", measured here): its words decide, not only its exit code.
        no_space = says_no_space("\n".join(proc.tail))
        if rc != 0 or no_space:
            self._error(f"{name}: {proc.last_error() or f'ffmpeg exited {rc}'}")
            if no_space:
                raise OutOfSpace(proc.last_error())
        return rc


async def run_until_exit(recorder: Recorder, recording: asyncio.Task[None]) -> int:
    """After POST /stop the worker keeps serving /status until it is terminated."""
    exit_requested = asyncio.ensure_future(recorder.exit_requested.wait())
    await asyncio.wait({recording, exit_requested}, return_when=asyncio.FIRST_COMPLETED)
    if recording.done() and recording.exception() is not None:
        exit_requested.cancel()
        log.error("recorder failed", exc_info=recording.exception())
        return 1
    await exit_requested
    await recording
    return 0
