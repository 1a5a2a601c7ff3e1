"""Recording status from its recorder's telemetry: pure functions, no cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from devtools.catalog import stored_recording
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording.status import RecorderObservation, recording_events, recording_status
from streamops.control.workers.pod_observation import PodObservation

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RUNNING = PodObservation(name="p", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)


def kinds(status):
    return {c.type: (c.status, c.reason) for c in status.conditions}


rec = partial(stored_recording, uid="r")


RECORDER = {
    "state": "recording",
    "recording": True,
    "startedAt": "2026-11-22T08:00:00Z",
    "endedAt": None,
    "duration": 4.4,
    "videos": [],
    "discarded": [],
    "lastError": None,
}


VIDEO = {
    "title": "Stream Record: Camera, 2026-11-22 08:00:09 UTC",
    "path": "media/rec-r/record-20261122T080000Z.mp4",  # relative to the recordings root
    "durationSeconds": 9.0,
    "sizeBytes": 1234,
    "startedAt": "2026-11-22T08:00:00Z",
    "endedAt": "2026-11-22T08:00:09Z",
}


def recorder(data: dict) -> RecorderStatus:
    return RecorderStatus.model_validate(data)


def test_recording_waits_for_the_stream():
    status = recording_status(
        rec(),
        RecorderObservation(pod=RUNNING, telemetry=recorder({**RECORDER, "state": "waiting", "recording": False})),
        T0,
    )
    assert kinds(status)["Ready"] == ("False", "StreamNotLive") and kinds(status)["Recording"] == (
        "False",
        "StreamNotLive",
    )
    missing = recording_status(rec(), RecorderObservation(pod=PodObservation("p"), stream_exists=False), T0)
    assert kinds(missing)["Ready"] == ("False", "StreamNotFound")
    starting = recording_status(rec(), RecorderObservation(pod=PodObservation("p"), stream_live=True), T0)
    assert kinds(starting)["Reconciling"] == ("True", "RecorderStarting")


def test_recording_mirrors_the_recorder_and_reports_videos_in_the_claim():
    status = recording_status(rec(), RecorderObservation(pod=RUNNING, telemetry=recorder(RECORDER)), T0)
    assert status.recording is True and status.started_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert kinds(status)["Recording"] == ("True", "Recording") and status.duration == 4.0
    split = {**RECORDER, "videos": [VIDEO], "duration": 12.0}
    after = recording_status(rec(status=status.wire()), RecorderObservation(pod=RUNNING, telemetry=recorder(split)), T0)
    assert after.videos[0].path == "media/rec-r/record-20261122T080000Z.mp4"
    assert [e.reason for e in recording_events(status, after)] == ["RecordingSplit"]
    assert [e.reason for e in recording_events(None, status)] == ["Recording", "RecordingStarted"]


def test_stop_finalises_and_discards_warn():
    stopping = recording_status(rec(stopped=True), RecorderObservation(pod=RUNNING, telemetry=recorder(RECORDER)), T0)
    assert kinds(stopping)["Ready"] == ("False", "Stopping") and kinds(stopping)["Reconciling"][0] == "True"
    done = {
        **RECORDER,
        "state": "stopped",
        "recording": False,
        "endedAt": "2026-11-22T08:00:10Z",
        "videos": [VIDEO],
        "discarded": [
            {
                "reason": "recorded 2.0 s, shorter than minDurationSeconds (10 s)",
                "durationSeconds": 2,
                "at": "2026-11-22T08:00:10Z",
            }
        ],
    }
    final = recording_status(
        rec(stopped=True, status=stopping.wire()), RecorderObservation(pod=RUNNING, telemetry=recorder(done)), T0
    )
    assert kinds(final)["Succeeded"] == ("True", "Finished") and kinds(final)["Ready"] == ("True", "Finished")
    assert final.recording is False and final.ended_at == datetime(2026, 11, 22, 8, 0, 10, tzinfo=UTC)
    reasons = [(e.type, e.reason) for e in recording_events(stopping, final)]
    assert ("Normal", "RecordingFinished") in reasons and ("Warning", "RecordingDiscarded") in reasons
    # The recorder Pod is gone afterwards: what it reported stands.
    gone = recording_status(rec(stopped=True, status=final.wire()), RecorderObservation(pod=PodObservation("p")), T0)
    assert gone.videos == final.videos and kinds(gone)["Succeeded"][0] == "True"
