"""Finalisation against fakes of what it asks of the Recorder (FinaliseOwner) and the disk
(JoinSpace): closing a video, discarding one with nothing readable, a full disk keeping the parts
(tests/media/test_recorder.py and test_recorder_s3.py join real parts with FFmpeg)."""

from __future__ import annotations

import asyncio
import errno
import itertools
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamops.api.recording import Video, VideoRendition
from streamops.contract.recorder import RecorderConfig
from streamops.media.ffmpeg import FFMPEG, FFPROBE
from streamops.media.recorder import finalise as finalise_module
from streamops.media.recorder.commands import FRAGMENTED_MP4
from streamops.media.recorder.disk import OutOfSpace
from streamops.media.recorder.finalise import FinaliseCounters, Finaliser, VideoUploads
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


def finaliser(
    tmp_path: Path, owner: Owner, space: Space, uploads: VideoUploads | None = None, **config: Any
) -> tuple[Finaliser, FinaliseCounters]:
    settings = RecorderConfig(
        feed_url="http://127.0.0.1:9/feed",
        recordings_root=str(tmp_path),
        directory="rec",
        reconnect_window_seconds=10,
        max_segment_seconds=3600,
        **{"min_duration_seconds": 10, **config},
    )
    out_dir = tmp_path / "rec"
    (out_dir / ".parts").mkdir(parents=True)
    counters = FinaliseCounters(Count(), Count(), Count())  # type: ignore[arg-type]
    made = Finaliser(settings, out_dir, out_dir / ".parts", owner, space, uploads, Redactor(), lambda: T0, counters)
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


# --- keepOrigin: the original joined beside the video ---------------------------------------------------------

ORIGIN = {"origin_feed_url": "http://127.0.0.1:9/feed", "origin_keep_seconds": 7 * 86400.0}
ENDED = T0 + timedelta(seconds=30)


class Uploads:
    def __init__(self) -> None:
        self.queued: list[str] = []

    def enqueue(self, video: Video, file: str) -> None:
        self.queued.append(file)
        video.url, video.upload = f"s3://b/{file}", "pending"

    def enqueue_rendition(self, video: Video, rendition: VideoRendition, file: str) -> None:
        self.queued.append(file)
        rendition.url, rendition.upload = f"s3://b/{file}", "pending"


def fake_joins(made: Finaliser, monkeypatch: pytest.MonkeyPatch, origin_fails: Exception | None = None) -> list[str]:
    """Joins that write `<name>.mp4` (30 s of the video, 29.5 s of its original), probed as 1280x720."""
    joined: list[str] = []

    async def timeline(recorded: list[PartState], name: str) -> tuple[list[PartState], list[float | None], float]:
        return recorded, [None] * len(recorded), 30.0

    async def join(
        name: str, parts: list[PartState], outpoints: list[float | None], total: float
    ) -> tuple[Path, float]:
        if name.endswith("-origin") and origin_fails is not None:
            raise origin_fails
        joined.append(name)
        final = made.out_dir / f"{name}.mp4"
        final.write_bytes(b"o" * 500 if name.endswith("-origin") else b"v" * 200)
        return final, 30.0 if not name.endswith("-origin") else 29.5

    async def codecs(path: Path) -> dict[str, Any]:
        return {"video": {"codec": "h264", "width": 1280, "height": 720}}

    monkeypatch.setattr(made, "_timeline", timeline)
    monkeypatch.setattr(made, "_joined", join)
    monkeypatch.setattr(finalise_module, "probe_codecs", codecs)
    return joined


def recorded_video(made: Finaliser) -> VideoState:
    video = VideoState(
        name="v",
        started_at=T0,
        last_data_at=ENDED,
        parts=[PartState(file="v.001.mp4", seconds=30.0)],
        origin_parts=[PartState(file="v-origin.001.mp4", seconds=29.5)],
    )
    for part in video.all_parts():
        (made.parts_dir / part.file).write_bytes(b"p")
    return video


def test_the_original_is_joined_beside_the_video_named_in_its_sidecar_and_uploaded_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, uploads = Owner(), Uploads()
    made, _ = finaliser(tmp_path, owner, Space(room=True), uploads, **ORIGIN)
    joined = fake_joins(made, monkeypatch)
    video = recorded_video(made)
    asyncio.run(made.finalise_video(video))
    assert joined == ["v", "v-origin"], "the original joined right after the video (before any rendition)"
    [info] = owner.state.videos
    origin = info.origin
    assert origin is not None and origin.name == "origin"
    assert (origin.width, origin.height, origin.size_bytes) == (1280, 720, 500)
    assert origin.delete_at == ENDED + timedelta(days=7), "the video's end + keepOrigin's days"
    assert origin.expired_at is None and info.stored_size() == 200 + 500
    assert uploads.queued == ["v.mp4", "v-origin.mp4"], "after the video (and its renditions)"
    assert origin.url == "s3://b/v-origin.mp4" and origin.upload == "pending"
    sidecar = json.loads((made.out_dir / "v.json").read_text())
    assert sidecar["origin"]["path"] == "rec/v-origin.mp4" and sidecar["origin"]["deleteAt"] == "2026-11-29T08:15:33Z"
    assert not list(made.parts_dir.iterdir()), "both part lists are forgotten"
    assert owner.errors == []


def test_a_video_whose_original_fails_is_kept_without_it_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner()
    made, counters = finaliser(tmp_path, owner, Space(room=True), **ORIGIN)
    fake_joins(made, monkeypatch, origin_fails=RuntimeError("joined file is not readable"))
    asyncio.run(made.finalise_video(recorded_video(made)))
    [info] = owner.state.videos
    assert info.origin is None and info.path == "rec/v.mp4"
    assert owner.errors == ["v: its original could not be made: joined file is not readable"]
    assert counters.errors.value == 1  # type: ignore[attr-defined]


def test_a_full_disk_while_joining_the_original_keeps_every_part_for_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = Owner()
    made, _ = finaliser(tmp_path, owner, Space(room=True), **ORIGIN)
    fake_joins(made, monkeypatch, origin_fails=OutOfSpace("No space left on device"))
    video = recorded_video(made)
    with pytest.raises(OutOfSpace):
        asyncio.run(made.finalise_video(video))
    assert owner.state.videos == [] and len(list(made.parts_dir.iterdir())) == 2, "finalised again once there is room"


def test_no_original_recorded_keeps_the_video_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = Owner()
    made, _ = finaliser(tmp_path, owner, Space(room=True), **ORIGIN)
    fake_joins(made, monkeypatch)
    video = recorded_video(made)
    video.origin_parts = []
    asyncio.run(made.finalise_video(video))
    assert owner.state.videos[0].origin is None
    assert owner.errors == ["v: no original was recorded (the origin feed gave no media)"]


# --- a reconnect's freeze on the frame grid (real FFmpeg) -------------------------------------------

PART_SECONDS = 2


def rtmp_like_part(path: Path, flv: Path) -> None:
    """A part as the recorder writes one of an RTMP publisher: fragmented MP4 copied from FLV, whose
    millisecond timestamps put 30 fps frames 33 and 34 ms apart."""
    if not flv.exists():
        subprocess.run(
            [FFMPEG, "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:v", "libx264", "-preset", "ultrafast",
             "-tune", "zerolatency", "-g", "60", "-c:a", "aac", "-t", str(PART_SECONDS), "-f", "flv", str(flv)],
            check=True, timeout=60,
        )  # fmt: skip
    subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", str(flv), "-map", "0", "-c", "copy", "-movflags", FRAGMENTED_MP4,
         "-frag_duration", "1000000", "-f", "mp4", str(path)],
        check=True, timeout=60,
    )  # fmt: skip


def video_pts(path: Path) -> list[float]:
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return [float(t) for t in done.stdout.split() if t != "N/A"]


def test_a_reconnects_freeze_keeps_the_next_parts_frames_on_the_video_frame_grid(tmp_path: Path) -> None:
    """The encoder restart of tests/media/test_ingest_robustness.py, which failed 1 run in a few at
    "the video decodes": the wall clock's gap put the second part's frames half a frame off the
    first's grid, so two frames 33 ms apart fell on one tick of a 1/30 s time base."""
    owner = Owner()
    made, _ = finaliser(tmp_path, owner, Space(room=True), min_duration_seconds=1)
    parts = [PartState(file=f"v.00{n}.mp4", closed=True) for n in (1, 2)]
    for part in parts:
        rtmp_like_part(made.parts_dir / part.file, tmp_path / "publisher.flv")
    # By the wall clock, the second part starts ≈2.35 s after the first: where its frames (from its
    # second: see below) fall half a frame off the ticks of 1/30 s from the video's start.
    second_frame = video_pts(made.parts_dir / parts[1].file)[1]
    parts[0].wall_start, parts[1].wall_start = 1000.0, 1000.0 + 71.5 / 30 - second_frame
    video = VideoState(name="v", started_at=T0, last_data_at=T0, parts=parts)
    asyncio.run(made.finalise_video(video))
    assert owner.errors == []
    joined = made.out_dir / "v.mp4"
    pts = video_pts(joined)
    freeze = max(range(1, len(pts)), key=lambda i: pts[i] - pts[i - 1])
    assert pts[freeze] == pytest.approx(2.35, abs=1 / 30), "the freeze keeps the wall clock's gap, within a frame"
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(joined), "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (decoded.returncode, decoded.stderr.strip()) == (0, ""), "the video decodes"
    # The first part's grid, from its second frame: the fragmented MP4 moves each part's first frame
    # back to the part's start (here 21 ms, where its audio starts).
    frames = [(t - pts[1]) * 30 for t in pts[1:freeze] + pts[freeze + 1 :]]
    off_grid = [f for f in frames if abs(f - round(f)) > 0.25]
    assert not off_grid, f"{len(off_grid)} frames off the first part's grid, first {off_grid[:3]}"
    ticks = [round(t * 30) for t in pts]
    assert all(b > a for a, b in itertools.pairwise(ticks)), "one frame per tick of 1/30 s"
