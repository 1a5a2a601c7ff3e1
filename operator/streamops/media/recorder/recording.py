"""The Recorder: a thin composition of capture (the feed, part by part), finalisation (parts into
videos, in the background), the disk (room to record and to join) and, when videos go to object
storage, the uploader; it holds the state file, answers `/status` and runs the lifecycle: pick up
what a killed run left, record until stopped, finalise, wait for the uploads; or hand the video
over to a successor recorder (`POST /handover/release`, docs/design/handover.md, Part 5), or take it
back when stopped before the successor took it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from streamops.contract.metrics import spec
from streamops.contract.recorder import RELEASE_PATH, Phase, RecorderConfig, RecorderRelease, RecorderStatus
from streamops.contract.worker import STOP_PATH
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.atomic_file import write_atomically
from streamops.media.feed_access import FeedAccess
from streamops.media.metrics_text import Count, exposition
from streamops.media.recorder.capture import Capture
from streamops.media.recorder.disk import Disk
from streamops.media.recorder.finalise import FinaliseCounters, Finaliser
from streamops.media.recorder.plan import recorded_seconds, stored_bytes
from streamops.media.recorder.state import PARTS_DIR, STATE_FILE, RecorderState, VideoState
from streamops.media.videos.bucket import Bucket
from streamops.media.videos.upload import Uploader
from streamops.media.worker_process import utc_now
from streamops.redaction import Redactor

if TYPE_CHECKING:
    from streamops.media.small_http import Route

log = logging.getLogger("streamops.recorder")

EXIT_GIVE_UP_FAILURES = 3  # after SIGTERM, uploads failing this many times in a row: exit anyway
# A released recorder's part runs on until its successor's first part has read the feed, at most this
# long: under plan.MAX_REPLAY_SECONDS, so that the join still cuts the two parts' overlap.
RELEASE_OVERLAP_SECONDS = 8.0
RELEASE_POLL_SECONDS = 0.1  # how often a released recorder reads the state file for its successor's part
RELEASED_MARK = "-released"  # appended to a released recorder's own name of the video (its part names)


class Recorder:
    def __init__(
        self,
        config: RecorderConfig,
        clock: Callable[[], datetime] = utc_now,
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
        self._last_save = 0.0
        self.release: RecorderRelease | None = None  # handed over: the state file is the successor's
        self._taken_back = asyncio.Event()  # released, then stopped before the successor took the state file
        self._uploading: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None

        self.uploader: Uploader | None = None
        if config.upload is not None:
            bucket = Bucket.from_environment(config.upload, self.redact)
            self.uploader = Uploader(
                config.upload,
                self.out_dir,
                bucket,
                lambda: self.state,
                self.save,
                backoff_max_seconds=config.upload_backoff_max_seconds,
            )

        self.disk = Disk(self.out_dir, self.parts_dir, config.min_free_bytes, self)
        self._metrics()
        counters = FinaliseCounters(self.m_videos, self.m_discarded, self.m_errors)
        self.finaliser = Finaliser(
            config, self.out_dir, self.parts_dir, self, self.disk, self.uploader, self.redact, clock, counters
        )
        self.capture = Capture(
            config,
            self.out_dir,
            self.parts_dir,
            self,
            self.disk,
            self.finaliser,
            self.feed,
            self.redact,
            clock,
            self.m_drops,
        )

    def _metrics(self) -> None:
        """The catalogue's recorder metrics (contract/metrics.py), kept as plain counts and read when
        scraped; written by hand (metrics_text.py), without prometheus-client's ≈3 MiB in the process."""
        self.m_videos, self.m_discarded, self.m_errors, self.m_drops = Count(), Count(), Count(), Count()

    def metrics(self) -> bytes:
        """/metrics: what prometheus-client wrote for these metrics, in its order (registration):
        the upload ones only when uploading."""
        labels = {"stream": self.config.stream, "recording": self.config.recording}
        values: list[tuple[str, float]] = [
            ("streamops_recorder_recording", 1 if self.recording else 0),
            ("streamops_recorder_recorded_seconds", self._recorded_seconds()),
            ("streamops_recorder_videos_total", self.m_videos.value),
            ("streamops_recorder_discarded_total", self.m_discarded.value),
            ("streamops_recorder_errors_total", self.m_errors.value),
            ("streamops_recorder_source_drops_total", self.m_drops.value),
        ]
        if (uploader := self.uploader) is not None:
            values += [
                ("streamops_recorder_uploads_pending", uploader.pending),
                ("streamops_recorder_upload_lag_seconds", uploader.lag_seconds(self.clock())),
                ("streamops_recorder_uploaded_bytes_total", uploader.bytes_sent),
                ("streamops_recorder_upload_failures_total", uploader.failed_attempts),
            ]
        return exposition([(spec(name, "recorder"), [(labels, value)]) for name, value in values])

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
            stored_bytes=stored_bytes(s.videos, self.disk.unjoined_bytes()),
            no_space=self.disk.no_space,
            storage_problem=uploader.problem if uploader else None,
            storage_error=uploader.error if uploader else None,
            handover=self.release,
        )

    def _recorded_seconds(self) -> float:
        return recorded_seconds(self.state.videos, self.open_videos())

    @property
    def recording(self) -> bool:
        return self.phase in ("recording", "reconnecting")

    def ready(self) -> bool:
        return self.phase == "recording"

    def routes(self) -> dict[tuple[str, str], Route]:
        from streamops.media.small_http import METRICS_CONTENT_TYPE, Reply, worker_routes

        async def stop(_: bytes) -> Reply:
            await self.stop_recording()
            return Reply.json(self.status().to_json_dict())

        async def release(_: bytes) -> Reply:
            refused = self.hand_over()
            if refused is not None:
                return Reply.json({"error": refused}, status=409)
            return Reply.json(self.status().to_json_dict())

        return {
            **worker_routes(self.status, self.ready, lambda: Reply(200, self.metrics(), METRICS_CONTENT_TYPE)),
            ("POST", STOP_PATH): stop,
            ("POST", RELEASE_PATH): release,
        }

    def hand_over(self) -> str | None:
        """`POST /handover/release`: from now on the state file is the successor's, which continues
        the video in progress (its recover() finds it within the reconnect window). The part being
        recorded runs on until the successor's first part has read the feed (or
        RELEASE_OVERLAP_SECONDS), then stops; it is left marked not closed, so the join cuts it where
        the successor's part begins (plan.part_outpoints): no second lost, none twice. Nothing is
        finalised here, and this recorder writes no state any more. Refused (the reason) while a
        video is being finalised: its successor would join it too."""
        if self.release is not None:
            return None  # asked again: the same answer
        if self.state.closing:
            return "a video is being finalised: ask again once it is done"
        if self.state.stopped:
            return "the recording was stopped: nothing to hand over"
        current = self.state.current
        handed = self.state.model_copy(deep=True)
        handed.released = True  # until the successor loads it (taken())
        for video in [*handed.closing, *([handed.current] if handed.current else [])]:
            video.ffmpeg_pid = video.origin_ffmpeg_pid = None  # the successor must not kill it: it ends by itself
        self.save(handed)
        self.release = "releasing"
        if self._uploading is not None:
            self._uploading.cancel()  # the successor resumes them from the state file's acknowledged parts
        after = (current.name, len(current.parts)) if current is not None else None
        if current is not None:
            # A part this recorder starts from now on (its feed back within the overlap) must never take
            # the name of the successor's next part: numbered from the same list, it would.
            current.name = f"{current.name}{RELEASED_MARK}"
        self._watching = asyncio.create_task(self._until_continued(after))
        log.info("handed over %s to a successor recorder", current.name if current else "no video")
        return None

    async def _until_continued(self, after: tuple[str, int] | None) -> None:
        """Stop this recorder once the successor's part after ours has read the feed, or the video is
        no longer in progress, or this recorder's own part ended (it records no other), or
        RELEASE_OVERLAP_SECONDS have passed."""
        deadline = time.monotonic() + RELEASE_OVERLAP_SECONDS
        while after is not None and time.monotonic() < deadline and not self._continued(*after):
            current = self.state.current
            if current is None or len(current.parts) != after[1] or current.ffmpeg_pid is None:
                break
            await asyncio.sleep(RELEASE_POLL_SECONDS)
        self.stop_requested.set()

    def _continued(self, video: str, parts: int) -> bool:
        try:
            state = RecorderState.model_validate_json(self.state_path.read_text())
        except (OSError, ValueError):
            return False  # being replaced (written atomically): read it again
        current = state.current
        if current is None or current.name != video:
            return True
        return len(current.parts) > parts and current.parts[parts].source_start is not None

    def taken(self) -> bool:
        """Released, and the successor took the state file: it cleared `released` (its start writes it
        at once). Read, not stat'ed: an NFS client revalidates a file it opens, not a path's attributes."""
        if self.release is None:
            return False
        try:
            return not RecorderState.model_validate_json(self.state_path.read_text()).released
        except (OSError, ValueError):
            return False  # as handed over (each write is atomic: a reader sees the old or the new)

    def take_back(self) -> bool:
        """Stopped or terminated while released, before the successor took the state file (the operator
        sends it no POST /start once the recording ends: docs/design/handover.md, Part 5): the video
        is this recorder's again, and it ends as if never released: finalised once, here. Nothing to do
        (False) when not released, or when the successor took it (that one finalises it)."""
        if self.release is None or self.taken():
            return False
        self.release = None
        if self._watching is not None:
            self._watching.cancel()
        current = self.state.current
        if current is not None:
            current.name = current.name.removesuffix(RELEASED_MARK)
        self.save()
        self._taken_back.set()
        log.info("took %s back: its successor never took it", current.name if current else "no video")
        return True

    async def stop_recording(self) -> None:
        """`POST /stop`: record no more, finalise (released: only a video taken back), return once done."""
        self.take_back()
        self.stop_requested.set()
        await self.stopped.wait()

    def request_exit(self) -> None:
        self.take_back()
        self.exit_requested.set()
        self.stop_requested.set()

    # -- what its parts ask of it (their Protocols: CaptureOwner, FinaliseOwner, DiskOwner) --

    def open_videos(self) -> list[VideoState]:
        """The videos whose parts are on disk: being finalised, and the one in progress."""
        return [*self.state.closing, *([self.state.current] if self.state.current else [])]

    def error(self, message: str) -> None:
        self.last_error = self.redact(message)
        log.warning("%s", self.last_error)

    def clear_error(self, prefix: str) -> None:
        """The trouble `prefix` names is over: /status no longer says it (it says a later one)."""
        if self.last_error.startswith(prefix):
            self.last_error = ""

    def not_recording(self, phase: Phase) -> None:
        """Waiting (for the feed, for room): /status says `phase`, and HTTP need not wait for an FFmpeg."""
        self.phase = phase
        self.first_attempt.set()

    # -- state file --

    def save(self, state: RecorderState | None = None) -> None:
        """The state file, atomically (`state`: this one instead of the recorder's own)."""
        if self.release is not None:
            return  # handed over: the successor writes it
        try:
            write_atomically(self.state_path, (state or self.state).model_dump_json(by_alias=True, indent=1))
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            # The reserve (minFreeBytes) normally prevents this; the previous state file stands.
            self.disk.no_space = True
            log.warning("state file not saved: no space left on the recordings volume")
        self._last_save = time.monotonic()

    def seconds_since_save(self) -> float:
        return time.monotonic() - self._last_save

    def _load(self) -> None:
        try:
            self.state = RecorderState.model_validate_json(self.state_path.read_text())
            self.state.released = False  # taken: written so at once (recover), its releaser lets go of it
        except FileNotFoundError:
            self.state = RecorderState()
        except ValueError as e:
            # Unreadable state must not stop recording; the parts stay on disk for a human.
            self.error(f"state file unreadable, starting afresh: {e}")
            self.state = RecorderState()

    # -- main loop --

    async def run(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.parts_dir.mkdir(exist_ok=True)
        self._load()
        self.disk.drop_uploaded_copies(self.state.videos)
        # Uploads (and boto3's import) wait for the first FFmpeg: recording starts as fast as without.
        uploading = asyncio.create_task(self._upload_once_started()) if self.uploader else None
        self._uploading = uploading
        try:
            if not self.state.stopped:
                self.state.ended_at = None  # left by a run that ended on SIGTERM: this one is not over
                await self.capture.recover()
                try:
                    await self.capture.record_until_stopped()
                    await self._until_taken()
                finally:
                    if self.state.current is not None and self.release is None:
                        self.finaliser.close_video()
            await self.finaliser.finished()  # finishing a video may not be cut short by the stop
            if not self.state.stopped:
                self.state.ended_at = self.clock()
                # POST /stop is stop_recording: it sticks across restarts. SIGTERM (pod deleted, node
                # drained) only ends this process: a replacement recorder records again.
                self.state.stopped = not self.exit_requested.is_set()
                self.save()
            self.first_attempt.set()
            if self.release is None:
                await self._wait_for_uploads()
        finally:
            if uploading is not None:
                uploading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await uploading
        self.phase = "stopped"
        if self.release is not None:
            self.release = "released"
        self.stopped.set()
        self.first_attempt.set()
        log.info("stopped: %d video(s), %d discarded", len(self.state.videos), len(self.state.discarded))

    async def _until_taken(self) -> None:
        """Released, its part ended: wait until the successor took the state file, or until this
        recorder takes the video back (stopped or terminated first)."""
        if self.release is not None and not self.taken():
            self.not_recording("waiting")
        while self.release is not None and not self.taken():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._taken_back.wait(), RELEASE_POLL_SECONDS)

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
