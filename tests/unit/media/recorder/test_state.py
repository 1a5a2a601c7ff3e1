"""The recorder's state file."""

from __future__ import annotations

from datetime import UTC, datetime

from streamops.api.recording import Video
from streamops.media.recorder.plan import video_title
from streamops.media.recorder.state import PartState, RecorderState, VideoState

T0 = datetime(2026, 11, 22, 8, 15, 3, tzinfo=UTC)


def video_info(seconds: float, size: int = 1) -> Video:
    return Video(
        title=video_title("c", T0),
        path="rec/v.mp4",
        duration_seconds=seconds,
        size_bytes=size,
        started_at=T0,
        ended_at=T0,
    )


def test_state_file_round_trips() -> None:
    state = RecorderState(
        current=VideoState(
            name="v", started_at=T0, last_data_at=T0, parts=[PartState(file="v.001.mp4", seconds=3, closed=True)]
        ),
        videos=[video_info(3)],
    )
    again = RecorderState.model_validate_json(state.model_dump_json(by_alias=True))
    assert again == state
    assert '"lastDataAt"' in state.model_dump_json(by_alias=True)
