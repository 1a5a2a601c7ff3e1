"""A recorder handed over to a successor recorder, twice (docs/design/handover.md, Part 5), with real
FFmpeg on 127.0.0.1: the running recorder is asked to release (`POST /handover/release`), a warm
successor on the same storage is started with the same Recording (`POST /start`, the standby
adoption path) and continues the same video; the predecessor's part runs on until the successor's
first part has read the feed, and the join cuts the overlap. One video, no second lost, none twice:
held against the published session's own clock (its PTS, which the feed passes through)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from typing import Any

import pytest
from devtools.media.workers import WORKER_AUTH
from devtools.waits import wait_for

from tests.media.test_recorder import (  # noqa: F401 (the fixtures)
    FFPROBE,
    POLL,
    FeedSource,
    RecorderFactory,
    RecorderProcess,
    check_videos,
    feed,
    recorders,
    wait_recorded,
    wait_state,
)


def release(recorder: RecorderProcess) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{recorder.port}/handover/release"
    request = urllib.request.Request(url, data=b"", method="POST", headers=WORKER_AUTH)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def feed_end(ts: str) -> float:
    """The published session's last timestamp (s): its start_time plus its duration."""
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "format=start_time,duration", "-of", "json", ts],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fmt = json.loads(out)["format"]
    return float(fmt["start_time"]) + float(fmt["duration"])


def hand_over(predecessor: RecorderProcess, successor: RecorderProcess) -> None:
    """The operator's next steps once the predecessor released: the successor started with the same
    Recording, the predecessor's part ended once the successor's began."""
    code, started = successor.post_start()
    assert code == 200, started
    wait_for(lambda: predecessor.status()["handover"] == "released", 15, POLL, "the predecessor's part ended")
    wait_state(successor, "recording")


def state_of(recorder: RecorderProcess) -> dict[str, Any]:
    return json.loads((recorder.out_dir / ".recorder-state.json").read_text())


def test_a_handed_over_recording_is_one_video_with_no_second_lost_or_twice(
    feed: FeedSource,  # noqa: F811
    recorders: RecorderFactory,  # noqa: F811
) -> None:
    config = {"reconnectWindowSeconds": 10, "minDurationSeconds": 2}
    session = feed.go_online()
    predecessor = recorders(**config)
    wait_recorded(predecessor, 5)
    first = wait_for(lambda: (s := state_of(predecessor))["current"]["parts"][0].get("sourceStart") is not None and s)
    recorded_from = first["current"]["parts"][0]["sourceStart"]
    successor = recorders(standby=True, **config)  # warm, on the same storage: the new image
    assert release(successor)[0] == 409, "a standby has no recording to hand over"

    code, answer = release(predecessor)
    assert code == 200 and answer["handover"] == "releasing", answer
    assert release(predecessor)[0] == 200, "asked again (the operator retries): the same answer"
    hand_over(predecessor, successor)
    assert predecessor.status()["videos"] == [], "the predecessor finalised nothing"
    parts = state_of(successor)["current"]["parts"]
    assert len(parts) == 2 and not parts[0]["closed"], parts  # the predecessor's, cut where ours begins
    wait_for(lambda: successor.status()["duration"] >= parts[0]["seconds"] + 3, 20, POLL, "3 s more recorded")

    # The next upgrade: the successor (a standby that was started) is handed over in turn.
    third = recorders(standby=True, **config)
    code, answer = release(successor)
    assert code == 200 and answer["handover"] == "releasing", answer
    hand_over(successor, third)
    wait_for(lambda: len(state_of(third)["current"]["parts"]) == 3, 10, POLL, "the third part")
    wait_for(lambda: third.status()["duration"] >= parts[0]["seconds"] + 6, 20, POLL, "3 s more recorded")

    feed.go_offline()
    wait_state(third, "reconnecting")
    assert third.terminate() == 0, third.log()
    state = state_of(third)
    [video] = state["videos"]
    check_videos(third, state)
    # The video holds the session from the predecessor's first frame to the end, once.
    expected = feed_end(str(session.ts_path)) - recorded_from
    assert abs(video["durationSeconds"] - expected) <= 0.3, (video["durationSeconds"], expected, third.log())
    assert third.log().count("replays its last") == 2, "each overlap was cut at the successor's first frame"


@pytest.mark.parametrize("ending", ["stopped", "deleted"])
def test_a_recording_ended_right_after_the_release_is_one_video_finalised_by_the_predecessor(
    feed: FeedSource,  # noqa: F811
    recorders: RecorderFactory,  # noqa: F811
    ending: str,
) -> None:
    """The operator's steps when the recording ends before the successor took the video
    (control/recording/handover.py, recorder_stop): the successor is deleted, never started; the
    predecessor is stopped (spec.stopped) or terminated (the Recording deleted: both Pods end), and
    takes the video back it had released."""
    config = {"reconnectWindowSeconds": 10, "minDurationSeconds": 2}
    session = feed.go_online()
    predecessor = recorders(**config)
    wait_recorded(predecessor, 3)
    first = wait_for(lambda: (s := state_of(predecessor))["current"]["parts"][0].get("sourceStart") is not None and s)
    recorded_from = first["current"]["parts"][0]["sourceStart"]
    successor = recorders(standby=True, **config)
    code, answer = release(predecessor)
    assert code == 200 and answer["handover"] == "releasing", answer
    assert successor.terminate() == 0, successor.log()  # the handover cancelled: it never took the video
    feed.go_offline()  # the broadcast's end: what was published is the session
    if ending == "stopped":
        stopped = predecessor.post_stop()
        assert stopped["state"] == "stopped" and stopped["handover"] is None, stopped
    else:
        assert predecessor.terminate() == 0, predecessor.log()
    state = state_of(predecessor)
    [video] = state["videos"]
    assert state["current"] is None and state["closing"] == []
    check_videos(predecessor, state)
    assert "back: its successor never took it" in predecessor.log()
    expected = feed_end(str(session.ts_path)) - recorded_from
    print(f"{ending} after the release: one video of {video['durationSeconds']:.3f} s for {expected:.3f} s published")
    assert abs(video["durationSeconds"] - expected) <= 0.5, (video["durationSeconds"], expected, predecessor.log())
