"""Capture's steps that need no feed and no FFmpeg, against fakes of what it asks of the Recorder
(CaptureOwner), the disk (CaptureSpace) and finalisation (VideoCloser): picking up a killed run's
videos, naming a new one, the feed probe's answers (tests/media/test_recorder.py records real feeds)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamops.contract.recorder import Phase, RecorderConfig
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.feed_access import FeedAccess
from streamops.media.recorder.capture import Capture, feed_status, orphan_ffmpeg_alive
from streamops.media.recorder.state import PartState, RecorderState, VideoState
from streamops.redaction import Redactor

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)


class Owner:
    def __init__(self) -> None:
        self.state = RecorderState()
        self.phase: Phase = "waiting"
        self.stop_requested = asyncio.Event()
        self.first_attempt = asyncio.Event()
        self.saves = 0
        self.errors: list[str] = []

    def save(self) -> None:
        self.saves += 1

    def seconds_since_save(self) -> float:
        return 0.0

    def error(self, message: str) -> None:
        self.errors.append(message)

    def open_videos(self) -> list[VideoState]:
        return [*self.state.closing, *([self.state.current] if self.state.current else [])]

    def not_recording(self, phase: Phase) -> None:
        self.phase = phase
        self.first_attempt.set()


class Space:
    def short(self, bytes_per_second: float) -> bool:
        return False

    def stopped_full(self) -> None:
        raise AssertionError("not in these tests")

    async def wait_for_room(self) -> bool:
        return True


class Closer:
    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.closed: list[str] = []
        self.later: list[str] = []

    def close_video(self) -> None:
        video = self.owner.state.current
        assert video is not None
        self.closed.append(video.name)
        self.owner.state.current = None

    def finalise_later(self, video: VideoState) -> None:
        self.later.append(video.name)


def capture(tmp_path: Path, now: datetime) -> tuple[Capture, Owner, Closer]:
    config = RecorderConfig(
        feed_url="http://127.0.0.1:9/feed",
        recordings_root=str(tmp_path),
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=3600,
        min_duration_seconds=0,
    )
    out_dir = tmp_path / "rec"
    (out_dir / ".parts").mkdir(parents=True)
    owner = Owner()
    closer = Closer(owner)
    feed = FeedAccess(CredentialCheck(None))
    made = Capture(
        config,
        out_dir,
        out_dir / ".parts",
        owner,
        Space(),
        closer,
        feed,
        Redactor(),
        lambda: now,
        None,  # type: ignore[arg-type]
    )
    return made, owner, closer


def test_a_killed_runs_videos_are_finalised_and_its_stale_video_closed(tmp_path: Path) -> None:
    made, owner, closer = capture(tmp_path, now=T0 + timedelta(minutes=5))
    old = VideoState(name="a", started_at=T0, parts=[PartState(file="a.001.mp4")])
    current = VideoState(name="b", started_at=T0, parts=[PartState(file="b.001.mp4")], ffmpeg_pid=2**22 + 7)
    (made.parts_dir / "b.001.mp4").write_bytes(b"x")
    os.utime(made.parts_dir / "b.001.mp4", (T0.timestamp() + 60, T0.timestamp() + 60))
    owner.state.closing, owner.state.current = [old], current
    asyncio.run(made.recover())
    assert closer.later == ["a"], "the video being finalised is finalised again"
    assert current.ffmpeg_pid is None, "no such process: nothing to kill, and no pid kept"
    assert current.last_data_at == T0 + timedelta(seconds=60), "its last part's mtime: when media last came"
    assert closer.closed == ["b"], "the feed was gone longer than the reconnect window"
    assert owner.saves == 1


def test_a_video_found_within_the_window_is_continued(tmp_path: Path) -> None:
    made, owner, closer = capture(tmp_path, now=T0 + timedelta(seconds=5))
    owner.state.current = VideoState(name="b", started_at=T0, last_data_at=T0)
    asyncio.run(made.recover())
    assert closer.closed == [] and owner.state.current is not None


def test_a_new_video_takes_a_name_no_file_or_video_has(tmp_path: Path) -> None:
    made, owner, _ = capture(tmp_path, now=T0)
    (made.out_dir / "record-20261122T081503Z.mp4").write_bytes(b"")
    video = made._open_video()
    assert video.name == "record-20261122T081503Z-2" and owner.state.current is video
    assert video.started_at == T0


def test_waiting_for_the_feed_ends_at_its_deadline_or_a_stop(tmp_path: Path) -> None:
    made, owner, _ = capture(tmp_path, now=T0)
    assert not asyncio.run(made._wait_for_feed(deadline=T0, phase="reconnecting"))
    owner.stop_requested.set()
    assert not asyncio.run(made._wait_for_feed(deadline=None, phase="waiting"))
    asyncio.run(made.record_until_stopped())  # stopped: returns without opening a video
    assert owner.state.current is None


def test_a_video_closed_by_the_window_is_closed_once_the_recorder_says_waiting(tmp_path: Path) -> None:
    """The operator sends recording.stopped on the recorder's phase and video_ready on the video it
    lists: a video the reconnect window closed must not be listed while /status still says
    reconnecting (webhook receivers expect stopped first: issue 41, item 12)."""
    made, owner, closer = capture(tmp_path, now=T0 + timedelta(seconds=60))
    owner.state.current = VideoState(name="b", started_at=T0, last_data_at=T0)
    owner.phase = "reconnecting"
    phases: list[Phase] = []

    def close_video() -> None:
        phases.append(owner.phase)
        owner.state.current = None
        owner.stop_requested.set()

    closer.close_video = close_video  # type: ignore[method-assign]
    asyncio.run(made.record_until_stopped())
    assert phases == ["waiting"], "the video was closed while /status said reconnecting"


def test_the_feed_probe_says_none_when_nothing_answers() -> None:
    assert asyncio.run(feed_status("http://127.0.0.1:9/feed", timeout=1.0)) is None


def test_an_orphan_ffmpeg_is_recognised_by_its_part_file() -> None:
    own = Path("/proc/self/cmdline").read_bytes().split(b"\0")[0].decode()
    assert orphan_ffmpeg_alive(os.getpid(), own)
    assert not orphan_ffmpeg_alive(os.getpid(), "v.001.mp4"), "another process: not ours to kill"
    assert not orphan_ffmpeg_alive(2**22 + 7, "v.001.mp4")


def test_a_killed_runs_orphan_ffmpeg_of_the_original_is_killed_too(tmp_path: Path) -> None:
    made, owner, _ = capture(tmp_path, now=T0 + timedelta(seconds=1))
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "v-origin.001.mp4"])
    try:
        # Popen returns when exec closes the CLOEXEC error pipe, which is before the kernel writes the
        # new argv: until then /proc/<pid>/cmdline is empty and recover() rightly sees no FFmpeg of ours
        # (a loaded make check lost that race 3 times in 11). A real orphan is long past exec.
        deadline = time.monotonic() + 60
        while not orphan_ffmpeg_alive(orphan.pid, "v-origin.001.mp4") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert orphan_ffmpeg_alive(orphan.pid, "v-origin.001.mp4"), "the stand-in orphan never started"
        owner.state.current = VideoState(
            name="v",
            started_at=T0,
            last_data_at=T0,
            parts=[PartState(file="v.001.mp4")],
            origin_parts=[PartState(file="v-origin.001.mp4")],
            origin_ffmpeg_pid=orphan.pid,
        )
        asyncio.run(made.recover())
        # Killed: a zombie's cmdline is empty, whoever reaps it. A SIGKILLed process still has to be
        # scheduled to exit: at load 16-19 that took more than 5 s once, so the deadline is generous.
        deadline = time.monotonic() + 60
        while orphan_ffmpeg_alive(orphan.pid, "v-origin.001.mp4") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not orphan_ffmpeg_alive(orphan.pid, "v-origin.001.mp4"), "two writers on one part would corrupt it"
        assert owner.state.current is not None and owner.state.current.origin_ffmpeg_pid is None
    finally:
        orphan.kill()
        with contextlib.suppress(ChildProcessError):
            orphan.wait(timeout=10)


def test_a_video_that_got_no_media_takes_its_originals_parts_with_it(tmp_path: Path) -> None:
    made, owner, _ = capture(tmp_path, now=T0)
    part, origin = PartState(file="v.001.mp4"), PartState(file="v-origin.001.mp4", seconds=1.0)
    (made.parts_dir / part.file).write_bytes(b"")
    (made.parts_dir / origin.file).write_bytes(b"m")
    video = VideoState(name="v", started_at=T0, parts=[part], origin_parts=[origin])
    owner.state.current = video

    class Ended:
        def last_error(self) -> str:
            return ""

    outcome = asyncio.run(made._empty_part(video, part, Ended(), 0, stopping=True, no_space=False))  # type: ignore[arg-type]
    assert outcome == "stopped" and owner.state.current is None
    assert not list(made.parts_dir.iterdir()), "no video: no original either"
