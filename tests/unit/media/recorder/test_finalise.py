"""Finalisation against fakes of what it asks of the Recorder (FinaliseOwner) and the disk
(JoinSpace): closing a video, discarding one with nothing readable, a full disk keeping the parts
(tests/media/test_recorder.py and test_recorder_s3.py join real parts with FFmpeg)."""

from __future__ import annotations

import asyncio
import errno
from datetime import UTC, datetime
from pathlib import Path

from streamops.contract.recorder import RecorderConfig
from streamops.media.recorder.finalise import FinaliseCounters, Finaliser
from streamops.media.recorder.state import PartState, RecorderState, VideoState
from streamops.redaction import Redactor

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)


class Owner:
    def __init__(self) -> None:
        self.state = RecorderState()
        self.saves = 0
        self.errors: list[str] = []

    def save(self) -> None:
        self.saves += 1

    def error(self, message: str) -> None:
        self.errors.append(message)


class Space:
    def __init__(self, room: bool) -> None:
        self.no_space = False
        self.room = room
        self.waits = 0
        self.cut: list[str] = []

    def cut_partial_box(self, part: PartState) -> None:
        self.cut.append(part.file)

    async def wait_for_join_room(self, video: VideoState) -> bool:
        self.waits += 1
        return self.room


class Count:
    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1


def finaliser(tmp_path: Path, owner: Owner, space: Space) -> tuple[Finaliser, FinaliseCounters]:
    config = RecorderConfig(
        feed_url="http://127.0.0.1:9/feed",
        recordings_root=str(tmp_path),
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=3600,
        min_duration_seconds=10,
    )
    out_dir = tmp_path / "rec"
    (out_dir / ".parts").mkdir(parents=True)
    counters = FinaliseCounters(Count(), Count(), Count())  # type: ignore[arg-type]
    made = Finaliser(config, out_dir, out_dir / ".parts", owner, space, None, Redactor(), lambda: T0, counters)
    return made, counters


def test_a_closed_video_without_readable_parts_is_discarded_and_forgotten(tmp_path: Path) -> None:
    owner, space = Owner(), Space(room=True)
    made, counters = finaliser(tmp_path, owner, space)
    empty = PartState(file="v.001.mp4")  # its FFmpeg got nothing: an empty file
    (made.parts_dir / empty.file).write_bytes(b"")
    owner.state.current = VideoState(name="v", started_at=T0, last_data_at=T0, parts=[empty])

    async def scenario() -> None:
        made.close_video()
        assert owner.state.current is None and [v.name for v in owner.state.closing] == ["v"]
        assert owner.saves == 1, "closing is saved before finalising begins"
        await made.finished()

    asyncio.run(scenario())
    assert owner.state.closing == [] and owner.state.videos == []
    [discarded] = owner.state.discarded
    assert discarded.reason == "no readable media recorded" and discarded.duration_seconds == 0
    assert discarded.at == T0
    assert counters.discarded.value == 1 and counters.videos.value == 0  # type: ignore[attr-defined]
    assert not list(made.parts_dir.iterdir()), "its parts go with it"
    made.close_video()  # nothing in progress: nothing to close
    assert owner.saves == 2


def test_a_full_disk_keeps_the_parts_and_finalises_once_there_is_room(tmp_path: Path) -> None:
    owner, space = Owner(), Space(room=True)
    made, counters = finaliser(tmp_path, owner, space)
    video = VideoState(name="v", started_at=T0)
    owner.state.closing.append(video)
    attempts: list[int] = []

    async def full_once(v: VideoState) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")  # the concat list or the sidecar

    made.finalise_video = full_once  # type: ignore[method-assign]

    async def scenario() -> None:
        made.finalise_later(video)
        await made.finished()

    asyncio.run(scenario())
    assert len(attempts) == 2 and space.waits == 1 and space.no_space
    assert owner.errors == ["finalising v: no space left on the recordings volume; parts kept"]
    assert counters.errors.value == 1  # type: ignore[attr-defined]


def test_a_finalisation_that_fails_otherwise_is_reported_and_recording_goes_on(tmp_path: Path) -> None:
    owner, space = Owner(), Space(room=False)
    made, counters = finaliser(tmp_path, owner, space)
    video = VideoState(name="v", started_at=T0)

    async def broken(v: VideoState) -> None:
        raise RuntimeError("joined file is not readable")

    made.finalise_video = broken  # type: ignore[method-assign]

    async def scenario() -> None:
        made.finalise_later(video)
        await made.finished()

    asyncio.run(scenario())
    assert owner.errors == ["finalising v failed: joined file is not readable"] and space.waits == 0
    assert counters.errors.value == 1  # type: ignore[attr-defined]
