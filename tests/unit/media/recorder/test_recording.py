"""The Recorder's face without a feed: /status (tests/media/test_recorder.py runs the real thing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from devtools.catalog import recorded_video
from streamops.api.recording import DiscardedFragment, Video
from streamops.contract.recorder import RecorderConfig
from streamops.media.recorder.plan import video_title
from streamops.media.recorder.recording import Recorder
from streamops.media.recorder.state import RecorderState

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)
FEED = "http://cam-ingest.streams.svc:8080/feed"


SETTINGS = {"reconnectWindowSeconds": 10, "maxSegmentSeconds": 14400, "minDurationSeconds": 10}


def config(**overrides: object) -> RecorderConfig:
    return RecorderConfig.model_validate(
        {"feedUrl": FEED, "recordingsRoot": "/var/lib/streamops", "directory": "rec", **SETTINGS, **overrides}
    )


def video_info(seconds: float, size: int = 1) -> Video:
    return recorded_video(seconds, size, at=T0, title=video_title("c", T0))


def test_status_is_camel_case_with_times_to_the_second() -> None:
    recorder = Recorder(config())
    recorder.state = RecorderState(
        started_at=T0,
        videos=[video_info(12.5)],
        discarded=[DiscardedFragment(reason="too short", duration_seconds=4.0, at=T0)],
    )
    status = recorder.status().to_json_dict()
    assert status == {
        "state": "waiting",
        "recording": False,
        "startedAt": "2026-11-22T08:15:03Z",
        "endedAt": None,
        "duration": 12.5,
        "videos": [
            {
                "title": "Stream Record: c, 2026-11-22 08:15:03 UTC",
                "stream": None,  # the test's config names no stream
                "path": "rec/v.mp4",
                "url": None,
                "downloadUrl": None,  # the operator's to set (claim_links), never the recorder's
                "pageUrl": None,
                "upload": None,
                "expiredAt": None,
                "durationSeconds": 12.5,
                "sizeBytes": 1,
                "startedAt": "2026-11-22T08:15:03Z",
                "endedAt": "2026-11-22T08:15:03Z",
                "renditions": [],  # an origin recording's video: one file
                "origin": None,  # no keepOrigin
            }
        ],
        "discarded": [{"reason": "too short", "durationSeconds": 4.0, "at": "2026-11-22T08:15:03Z"}],
        "lastError": None,
        "storedBytes": 1,  # the finished video's size_bytes
        "noSpace": False,
        "storageProblem": None,
        "storageError": None,
        "handover": None,  # handed over to no successor
    }
    assert not recorder.ready()


def test_a_release_hands_the_state_file_over_and_writes_it_no_more(tmp_path: Path) -> None:
    import asyncio
    import json

    from streamops.media.recorder.state import PartState, VideoState

    async def released() -> None:
        recorder = Recorder(config(recordingsRoot=str(tmp_path)))
        recorder.out_dir.mkdir(parents=True)
        part = PartState(file="record-1.001.mp4", seconds=4.0, source_start=1.5, source_read_at=1e9)
        video = VideoState(name="record-1", started_at=T0, parts=[part], ffmpeg_pid=4242)
        recorder.state = RecorderState(started_at=T0, current=video, closing=[video.model_copy(update={"name": "c"})])
        assert recorder.hand_over() == "a video is being finalised: ask again once it is done"
        recorder.state.closing = []
        assert recorder.hand_over() is None and recorder.status().handover == "releasing"
        saved = json.loads(recorder.state_path.read_text())["current"]
        assert saved["name"] == "record-1" and saved["ffmpegPid"] is None, "the successor must not kill our FFmpeg"
        assert saved["parts"][0]["closed"] is False, "cut where the successor's part begins"
        assert video.ffmpeg_pid == 4242 and video.name == "record-1-released", "our next part's names are our own"
        recorder.state.current = None
        recorder.save()
        assert json.loads(recorder.state_path.read_text())["current"]["name"] == "record-1", "no write any more"
        assert recorder.hand_over() is None, "asked again: the same answer"
        assert recorder._watching is not None
        await recorder._watching  # our part no longer the video's: the recorder stops at once
        assert recorder.stop_requested.is_set()

    asyncio.run(released())


def test_stopped_before_its_successor_took_the_video_a_released_recorder_takes_it_back(tmp_path: Path) -> None:
    import asyncio
    import json

    from streamops.media.recorder.state import PartState, VideoState

    async def taken_back() -> None:
        recorder = Recorder(config(recordingsRoot=str(tmp_path)))
        recorder.out_dir.mkdir(parents=True)
        part = PartState(file="record-1.001.mp4", seconds=4.0, source_start=1.5, source_read_at=1e9)
        recorder.state = RecorderState(
            started_at=T0, current=VideoState(name="record-1", started_at=T0, parts=[part], ffmpeg_pid=4242)
        )
        assert not recorder.take_back(), "not released: nothing to take back"
        assert recorder.hand_over() is None and not recorder.taken()
        assert recorder.take_back() and recorder.release is None, "the successor never wrote the state file"
        saved = json.loads(recorder.state_path.read_text())["current"]
        assert saved["name"] == "record-1" and saved["ffmpegPid"] == 4242, "ours again: finalised by us"
        watching = recorder._watching
        assert watching is not None
        await asyncio.gather(watching, return_exceptions=True)
        assert watching.cancelled() and not recorder.stop_requested.is_set(), "its part records on until the stop"

        # Released again, and this time the successor took it (its start writes the state file).
        assert recorder.hand_over() is None and json.loads(recorder.state_path.read_text())["released"]
        successor = Recorder(config(recordingsRoot=str(tmp_path)))
        successor._load()
        successor.save()
        assert recorder.taken() and not json.loads(recorder.state_path.read_text())["released"]
        recorder.request_exit()  # the Pod deleted (the Recording deleted): the successor finalises it
        assert recorder.release == "releasing" and recorder.exit_requested.is_set()
        assert json.loads(recorder.state_path.read_text())["current"]["ffmpegPid"] is None, "not written"

    asyncio.run(taken_back())
