"""The recorder's disk checks against a fake of what they ask of the Recorder (DiskOwner), on a
temporary directory whose free space the test sets (tests/media/test_recorder_s3.py fills a real
small volume)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from devtools.waits import eventually_async
from streamops.api.recording import Video, VideoRendition
from streamops.contract.recorder import Phase
from streamops.media.recorder import disk as disk_module
from streamops.media.recorder.disk import Disk, file_size
from streamops.media.recorder.state import PartState, VideoState

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)
MIB = 1024 * 1024


class Owner:
    """The DiskOwner a Recorder is, reduced to what the disk checks use."""

    def __init__(self, videos: list[VideoState] | None = None) -> None:
        self.stop_requested = asyncio.Event()
        self.exit_requested = asyncio.Event()
        self.videos = videos or []
        self.errors: list[str] = []
        self.last_error = ""
        self.phases: list[Phase] = []

    def open_videos(self) -> list[VideoState]:
        return self.videos

    def error(self, message: str) -> None:
        self.errors.append(message)
        self.last_error = message

    def clear_error(self, prefix: str) -> None:
        if self.last_error.startswith(prefix):
            self.last_error = ""

    def not_recording(self, phase: Phase) -> None:
        self.phases.append(phase)


def disk_at(tmp_path: Path, owner: Owner, free: list[int], monkeypatch: pytest.MonkeyPatch) -> Disk:
    """A Disk on `tmp_path` whose free space is `free[0]` (the test changes it), 4 MiB kept free."""
    (tmp_path / ".parts").mkdir()
    monkeypatch.setattr(disk_module, "free_bytes", lambda _: free[0])
    return Disk(tmp_path, tmp_path / ".parts", 4 * MIB, owner)


def video_with_part(disk: Disk, name: str, size: int) -> VideoState:
    part = PartState(file=f"{name}.001.mp4")
    (disk.parts_dir / part.file).write_bytes(b"\0" * size)
    return VideoState(name=name, started_at=T0, parts=[part])


def test_the_parts_of_open_videos_are_what_finalising_will_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner()
    disk = disk_at(tmp_path, owner, [100 * MIB], monkeypatch)
    owner.videos = [video_with_part(disk, "a", 3 * MIB), video_with_part(disk, "b", 2 * MIB)]
    owner.videos[1].parts.append(PartState(file="b.002.mp4"))  # not on disk yet: nothing
    assert disk.unjoined_bytes() == 5 * MIB and file_size(tmp_path / "none") == 0
    original = PartState(file="b-origin.001.mp4")  # keepOrigin: its original's parts are joined too
    (disk.parts_dir / original.file).write_bytes(b"\0" * MIB)
    owner.videos[1].origin_parts.append(original)
    assert disk.unjoined_bytes() == 6 * MIB
    owner.videos[1].origin_parts.clear()
    assert not disk.short(0)
    monkeypatch.setattr(disk_module, "free_bytes", lambda _: 8 * MIB)  # < 5 MiB to copy + 4 MiB kept
    assert disk.short(0)
    monkeypatch.setattr(disk_module, "free_bytes", lambda _: 10 * MIB)  # 5 + 4 fit; not with 2 s of 512 KiB/s twice
    assert not disk.short(0) and disk.short(512 * 1024)


def test_a_video_stopped_full_keeps_recording_waiting_until_there_is_room_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner()
    free = [14 * MIB]
    disk = disk_at(tmp_path, owner, free, monkeypatch)
    owner.videos = [video_with_part(disk, "a", 10 * MIB)]
    disk.stopped_full()
    assert disk.no_space and disk.last_full_bytes == 10 * MIB
    owner.videos = []  # joined meanwhile (the joined video now takes the space)
    monkeypatch.setattr(disk_module, "SPACE_POLL_SECONDS", 0.01)

    async def scenario() -> bool:
        waiting = asyncio.create_task(disk.wait_for_room())
        await eventually_async(lambda: owner.phases, timeout=10, what="the phase it waits in")
        assert not waiting.done() and owner.phases and set(owner.phases) == {"waiting"}
        free[0] = 24 * MIB  # uploaded or deleted: room for one as large as the last, and the reserve
        return await asyncio.wait_for(waiting, 1)

    owner.last_error = "no space left on the recordings volume: the video was closed"
    assert asyncio.run(scenario())
    assert not disk.no_space and owner.last_error == "", "the error it was waiting on is cleared"
    assert owner.errors == [], "already short when it began waiting: said once, when the video closed"


def test_waiting_for_room_says_so_once_and_ends_on_a_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = Owner()
    disk = disk_at(tmp_path, owner, [1 * MIB], monkeypatch)
    monkeypatch.setattr(disk_module, "SPACE_POLL_SECONDS", 0.01)

    async def scenario() -> bool:
        waiting = asyncio.create_task(disk.wait_for_room())
        await eventually_async(lambda: owner.errors, timeout=10, what="the error it waits with")
        owner.stop_requested.set()
        return await asyncio.wait_for(waiting, 1)

    assert not asyncio.run(scenario())
    assert disk.no_space and owner.errors == ["no space left on the recordings volume: waiting for space to record"]


def test_a_join_waits_for_room_for_its_copy_until_the_process_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner()
    free = [10 * MIB]
    disk = disk_at(tmp_path, owner, free, monkeypatch)
    video = video_with_part(disk, "a", 10 * MIB)
    monkeypatch.setattr(disk_module, "SPACE_POLL_SECONDS", 0.01)
    assert not asyncio.run(asyncio.wait_for(_exit_soon(owner, disk.wait_for_join_room(video)), 1))
    owner.exit_requested.clear()
    free[0] = 12 * MIB  # the parts' copy and the headroom fit
    assert asyncio.run(asyncio.wait_for(disk.wait_for_join_room(video), 1))


async def _exit_soon(owner: Owner, waiting: Coroutine[Any, Any, bool]) -> bool:
    task = asyncio.ensure_future(waiting)
    await asyncio.sleep(0.03)  # (a few polls with no room; nothing is asserted about them)
    owner.exit_requested.set()
    return await task


def test_local_copies_of_uploaded_files_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = disk_at(tmp_path, Owner(), [100 * MIB], monkeypatch)
    uploaded = Video(
        title="t",
        url="s3://recordings/k/v.mp4",
        upload="uploaded",
        duration_seconds=1,
        size_bytes=1,
        started_at=T0,
        ended_at=T0,
        renditions=[
            VideoRendition(name="360p", width=640, height=360, size_bytes=1, url="s3://recordings/k/v.360p.mp4")
        ],
    )
    assert uploaded.renditions[0].upload is None, "a rendition not uploaded yet keeps its copy"
    pending = Video(
        title="t", url="s3://recordings/k/w.mp4", upload="pending", duration_seconds=1, size_bytes=1,
        started_at=T0, ended_at=T0,
    )  # fmt: skip
    kept = Video.model_validate(
        {
            **pending.wire(),
            "url": "s3://recordings/k/x.mp4",
            "origin": {"width": 1, "height": 1, "sizeBytes": 1, "url": "s3://recordings/k/x-origin.mp4"},
        }
    )
    kept.origin.upload = "uploaded"  # type: ignore[union-attr]  # (its video not yet: it goes first, but a hand edit)
    names = ["v.mp4", "v.json", "v.360p.mp4", "w.mp4", "w.json", "x.mp4", "x-origin.mp4"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    disk.drop_uploaded_copies([uploaded, pending, kept])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["v.360p.mp4", "w.json", "w.mp4", "x.mp4"]


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_a_part_cut_inside_a_moof_is_cut_back_to_its_last_whole_fragment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = disk_at(tmp_path, Owner(), [100 * MIB], monkeypatch)
    whole = box(b"ftyp", b"isom") + box(b"moov", b"\0" * 16) + box(b"moof", b"\0" * 8) + box(b"mdat", b"\1" * 32)
    part = PartState(file="v.001.mp4")
    path = disk.parts_dir / part.file
    path.write_bytes(whole + box(b"moof", b"\0" * 40)[:20])  # the next moof, cut 20 bytes in
    disk.cut_partial_box(part)
    assert path.read_bytes() == whole
    disk.cut_partial_box(part)  # a whole part is left as it is
    assert path.read_bytes() == whole
