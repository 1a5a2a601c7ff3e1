"""keepOrigin's capture (origin.py) against a fake FFmpeg: the original's part starts and ends with
the video's, an origin feed that ends early gets a new part, an empty one is dropped and said, the
pid a restart would kill is kept while it runs (tests/media/test_recording_origin.py records real feeds)."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from devtools.waits import eventually_async
from streamops.contract.worker_credential import CredentialCheck
from streamops.media.feed_access import FeedAccess
from streamops.media.ffmpeg import Progress
from streamops.media.recorder import origin as origin_module
from streamops.media.recorder.origin import OriginCapture
from streamops.media.recorder.plan import origin_name
from streamops.media.recorder.state import VideoState
from streamops.redaction import Redactor

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)
FEED = "http://127.0.0.1:9/feed"


class Owner:
    def __init__(self) -> None:
        self.saves = 0
        self.errors: list[str] = []

    def save(self) -> None:
        self.saves += 1

    def error(self, message: str) -> None:
        self.errors.append(message)


class FakeFfmpeg:
    """Writes `seconds` of "media" into its output at once; ends by itself after `runs_for` (the
    feed ended), or on stop() (SIGTERM: exit 255, as FFmpeg)."""

    made: ClassVar[list[FakeFfmpeg]] = []
    plan: ClassVar[deque[tuple[float, float | None]]] = deque()  # (seconds it records, runs_for or None: until stopped)

    def __init__(self, name: str, argv: list[str], redact: Any, log: Any) -> None:
        self.argv, self.tail = argv, deque(["Connection refused"])
        self.seconds, self.runs_for = self.plan.popleft() if self.plan else (2.0, None)
        self.on_progress: Any = None
        self.on_stderr: Any = None
        self.stopped = asyncio.Event()
        self.pid = 4242 + len(self.made)
        FakeFfmpeg.made.append(self)

    @property
    def output(self) -> Path:
        return Path(self.argv[-1])

    async def start(self) -> FakeFfmpeg:
        self.on_stderr("  Duration: N/A, start: 12.500000, bitrate: N/A")
        if self.seconds:
            self.output.write_bytes(b"m" * 100)
            self.on_progress(Progress.parse({"out_time_us": str(int(self.seconds * 1e6)), "total_size": "100"}))
        return self

    async def wait(self) -> int:
        if self.runs_for is None:
            await self.stopped.wait()
            return 255
        try:
            await asyncio.wait_for(self.stopped.wait(), self.runs_for)
            return 255
        except TimeoutError:
            return 0 if self.seconds else 1

    async def stop(self) -> int:
        self.stopped.set()
        return 255

    def last_error(self) -> str:
        return self.tail[-1]


@pytest.fixture
def fake_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> type[FakeFfmpeg]:
    FakeFfmpeg.made, FakeFfmpeg.plan = [], deque()
    monkeypatch.setattr(origin_module, "FfmpegProcess", FakeFfmpeg)
    monkeypatch.setattr(origin_module, "ORIGIN_RETRY_SECONDS", 0.01)
    return FakeFfmpeg


def capture(tmp_path: Path) -> tuple[OriginCapture, Owner]:
    owner = Owner()
    return OriginCapture(FEED, tmp_path, owner, FeedAccess(CredentialCheck(None)), Redactor(), lambda: T0), owner


def test_the_originals_part_runs_exactly_as_long_as_the_videos_part(tmp_path: Path, fake_ffmpeg) -> None:
    made, owner = capture(tmp_path)
    video = VideoState(name="record-1", started_at=T0)

    async def scenario() -> None:
        made.start(video, limit=30.0)
        await eventually_async(lambda: video.origin_ffmpeg_pid, timeout=10, what="the original's FFmpeg")
        assert video.origin_ffmpeg_pid == 4242, "saved while it runs: a restart kills an orphan by it"
        await made.stop()  # the video's part ended

    asyncio.run(scenario())
    [ffmpeg] = fake_ffmpeg.made
    assert ffmpeg.stopped.is_set() and FEED in ffmpeg.argv and "30.000" in ffmpeg.argv, "the video's part limit"
    [part] = video.origin_parts
    assert part.file == f"{origin_name('record-1')}.001.mp4" == "record-1-origin.001.mp4"
    assert (part.seconds, part.closed, part.source_start) == (2.0, True, 12.5), "SIGTERM: a whole last fragment"
    assert part.source_read_at == T0.timestamp() and video.origin_ffmpeg_pid is None
    assert owner.errors == []
    asyncio.run(made.stop())  # nothing running: nothing to stop


def test_an_origin_feed_that_ends_early_goes_on_in_a_new_part_and_empty_ones_are_dropped(
    tmp_path: Path, fake_ffmpeg
) -> None:
    made, owner = capture(tmp_path)
    video = VideoState(name="v", started_at=T0)
    # Ends after 0.05 s with media, then an attempt that gets nothing (the feed answered 503), then one that lasts.
    fake_ffmpeg.plan.extend([(1.5, 0.05), (0.0, 0.01), (3.0, None)])

    async def scenario() -> None:
        made.start(video, limit=10.0)
        await eventually_async(lambda: len(fake_ffmpeg.made) == 3, timeout=10, what="the third attempt")
        await made.stop()

    asyncio.run(scenario())
    # The empty attempt's part was removed: the next one takes its number, as the video's parts do.
    assert [p.file for p in video.origin_parts] == ["v-origin.001.mp4", "v-origin.002.mp4"]
    assert [p.seconds for p in video.origin_parts] == [1.5, 3.0]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["v-origin.001.mp4", "v-origin.002.mp4"]
    assert owner.errors == ["origin feed gave no media: Connection refused"]


def test_a_failing_original_never_takes_the_video_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made, owner = capture(tmp_path)

    class Broken(FakeFfmpeg):
        async def start(self) -> FakeFfmpeg:
            raise OSError("ffmpeg: not found")

    monkeypatch.setattr(origin_module, "FfmpegProcess", Broken)

    async def scenario() -> None:
        made.start(VideoState(name="v", started_at=T0), limit=10.0)
        await asyncio.sleep(0)
        await made.stop()

    asyncio.run(scenario())
    assert owner.errors == ["recording the original failed: ffmpeg: not found"]
