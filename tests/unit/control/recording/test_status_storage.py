"""The storage half of a Recording's status (status.py): the Uploaded, NoSpace and
StorageAlmostFull conditions and their Events, expired videos, the videos a new recorder no longer
reports. Pure functions, no cluster; the rest of its status: test_status.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from devtools.catalog import stored_livestream, stored_recording
from streamops.api.recording import Video
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording.specs.storage import resolved_storage
from streamops.control.recording.status import (
    RecorderObservation,
    StorageRefusal,
    merged_videos,
    recording_events,
    recording_status,
)
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storage_quota import QuotaUse
from streamops.control.workers.pod_observation import PodObservation

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()
RUNNING = PodObservation(name="p", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)


stream = partial(stored_livestream, uid="stream-uid", generation=1)


rec = stored_recording

VIDEO = {
    "title": "Stream Record: Camera, 2026-11-23 10:00:10 UTC",
    "url": "s3://videos/streamops/media/cam/2026/11/23/10/00/rec-01234567/record-1.mp4",
    "upload": "uploaded",
    "durationSeconds": 10.0,
    "sizeBytes": 1000,
    "startedAt": "2026-11-23T10:00:00Z",
    "endedAt": "2026-11-23T10:00:10Z",
}
RECORDING_TELEMETRY = {
    "state": "recording",
    "recording": True,
    "startedAt": "2026-11-23T10:00:00Z",
    "duration": 4.0,
    "storedBytes": 1500,
}
S3_STORAGE = {"s3": S3}


def telemetry(**extra: Any) -> RecorderStatus:
    return RecorderStatus.model_validate({**RECORDING_TELEMETRY, **extra})


def observe(t: RecorderStatus | None = None, **extra: Any) -> RecorderObservation:
    storage = resolved_storage(rec(storage=S3_STORAGE), stream(), SETTINGS)
    return RecorderObservation(pod=RUNNING if t else PodObservation("p"), telemetry=t, storage=storage, **extra)


def kinds(status) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_uploaded_true_when_every_video_is_in_the_bucket_with_one_event_per_video():
    before = recording_status(rec(), observe(telemetry()), T0)
    assert kinds(before)["Uploaded"] == ("True", "Uploaded") and before.storage is not None
    pending = recording_status(
        rec(status=before.wire()), observe(telemetry(videos=[{**VIDEO, "upload": "pending"}])), T0
    )
    assert kinds(pending)["Uploaded"] == ("False", "UploadPending")
    assert pending.condition("Uploaded").message == "1 video(s) waiting for s3://videos"
    done = recording_status(rec(status=pending.wire()), observe(telemetry(videos=[VIDEO])), T0)
    assert kinds(done)["Uploaded"] == ("True", "Uploaded")
    assert done.condition("Uploaded").message == "all 1 video(s) in s3://videos"
    events = recording_events(pending, done)
    assert [(e.type, e.reason) for e in events] == [("Normal", "VideoUploaded")]
    assert VIDEO["url"] in events[0].message
    assert not any(e.reason == "VideoUploaded" for e in recording_events(done, done))
    # A PVC Recording has no Uploaded condition.
    pvc = recording_status(rec(), RecorderObservation(pod=RUNNING, telemetry=telemetry()), T0)
    assert "Uploaded" not in kinds(pvc)


@pytest.mark.parametrize("problem", ["StorageUnreachable", "StorageAccessDenied", "BucketNotFound", "UploadFailing"])
def test_each_storage_problem_is_the_uploaded_reason_while_recording_goes_on(problem):
    ok = recording_status(rec(), observe(telemetry()), T0)
    error = f"{problem}: the server said no"
    t = telemetry(videos=[{**VIDEO, "upload": "pending"}], storageProblem=problem, storageError=error)
    bad = recording_status(rec(status=ok.wire()), observe(t), T0)
    assert kinds(bad)["Uploaded"] == ("False", problem) and bad.condition("Uploaded").message == error
    ready = bad.condition("Ready")
    assert ready is not None and ready.status == "True" and problem in ready.message and error in ready.message
    assert kinds(bad)["Recording"] == ("True", "Recording")
    warnings = [(e.type, e.reason) for e in recording_events(ok, bad) if e.type == "Warning"]
    assert warnings == [("Warning", problem)]
    # Fixed: one Normal Event, uploads go on.
    fixed = recording_status(rec(status=bad.wire()), observe(telemetry(videos=[VIDEO])), T0)
    assert kinds(fixed)["Uploaded"] == ("True", "Uploaded")
    assert ("Normal", "Uploaded") in [(e.type, e.reason) for e in recording_events(bad, fixed)]


def test_a_missing_secret_stalls_the_recording():
    refused = StorageRefusal(
        "StorageCredentialsMissing", "Secret s3-creds (storage.s3.credentialsSecret) does not exist"
    )
    status = recording_status(rec(), observe(storage_refused=refused, stream_live=True), T0)
    assert kinds(status)["Ready"] == ("False", "StorageCredentialsMissing")
    assert kinds(status)["Stalled"] == ("True", "StorageCredentialsMissing")
    assert status.condition("Ready").message == refused.message


def test_quota_refusal_and_finalisation_say_no_space():
    use = QuotaUse("namespace", 1200, 1000)
    refused = recording_status(rec(), observe(quota=use, quota_refused=True), T0)
    assert kinds(refused)["Ready"] == ("False", "NoSpace") and kinds(refused)["NoSpace"] == ("True", "NoSpace")
    assert kinds(refused)["Recording"] == ("False", "NoSpace")
    message = refused.condition("NoSpace").message
    assert message == "no space for recording the stream: used 1200 of 1000 bytes (120 %) of namespace quota"
    assert ("Warning", "NoSpace") in [(e.type, e.reason) for e in recording_events(None, refused)]
    # A running recording the loop asked to stop: finalised, and says why.
    stopped = telemetry(state="stopped", recording=False, videos=[VIDEO], storedBytes=1000)
    final = recording_status(rec(), observe(stopped, quota=use), T0)
    assert kinds(final)["NoSpace"] == ("True", "NoSpace") and kinds(final)["Recording"] == ("False", "NoSpace")
    assert "Succeeded" not in kinds(final) and final.videos[0].url == VIDEO["url"]


def test_a_full_disk_is_no_space_with_the_recorders_words():
    error = "no space left on the recordings volume: the video was closed"
    status = recording_status(rec(), observe(telemetry(noSpace=True, lastError=error)), T0)
    assert kinds(status)["NoSpace"] == ("True", "DiskFull") and status.condition("NoSpace").message == error
    recovered = recording_status(rec(status=status.wire()), observe(telemetry()), T0)
    assert "NoSpace" not in kinds(recovered), "NoSpace exists only while true"


def test_storage_almost_full_warns_once_while_true():
    use = QuotaUse("stream", 850, 1000)
    warned = recording_status(rec(), observe(telemetry(), quota=use), T0)
    assert kinds(warned)["StorageAlmostFull"] == ("True", "StorageAlmostFull")
    assert warned.condition("StorageAlmostFull").message == "used 850 of 1000 bytes (85 %) of stream quota"
    assert ("Warning", "StorageAlmostFull") in [(e.type, e.reason) for e in recording_events(None, warned)]
    again = recording_status(rec(status=warned.wire()), observe(telemetry(), quota=QuotaUse("stream", 860, 1000)), T0)
    assert not [e for e in recording_events(warned, again) if e.reason == "StorageAlmostFull"]
    below = recording_status(rec(status=again.wire()), observe(telemetry(), quota=QuotaUse("stream", 10, 1000)), T0)
    assert "StorageAlmostFull" not in kinds(below)
    finished = telemetry(state="stopped", recording=False)
    done = recording_status(rec(stopped=True), observe(finished, quota=use), T0)
    assert "StorageAlmostFull" not in kinds(done), "a finished Recording is not warned"


def test_expired_videos_are_marked_announced_and_no_longer_counted():
    second = {**VIDEO, "url": VIDEO["url"].replace("record-1", "record-2"), "sizeBytes": 500}
    t = telemetry(videos=[VIDEO, second], storedBytes=1500 + 300)  # 300 bytes of the video in progress
    before = recording_status(rec(), observe(t), T0)
    assert before.stored_bytes == 1800
    deleted_at = T0 + timedelta(days=1)
    after = recording_status(rec(status=before.wire()), observe(t, expired={VIDEO["url"]: deleted_at}), T0)
    assert after.videos[0].expired_at == deleted_at and after.videos[1].expired_at is None
    assert after.stored_bytes == 800
    events = [e for e in recording_events(before, after) if e.reason == "VideoExpired"]
    assert len(events) == 1 and events[0].type == "Normal" and VIDEO["url"] in events[0].message
    # Kept once written, even with the expiry no longer in the loop's memory (operator restart).
    kept = recording_status(rec(status=after.wire()), observe(t), T0)
    assert kept.videos[0].expired_at == deleted_at and kept.stored_bytes == 800


ORIGIN_URL = VIDEO["url"].replace("record-1", "record-1-origin")
WITH_ORIGIN = {
    **VIDEO,
    "origin": {"width": 1280, "height": 720, "url": ORIGIN_URL, "upload": "uploaded", "sizeBytes": 3000,
               "deleteAt": "2026-11-30T10:00:10Z"},
}  # fmt: skip


def test_an_expired_original_is_marked_announced_and_no_longer_counted_and_the_video_stays():
    t = telemetry(videos=[WITH_ORIGIN], storedBytes=1000 + 3000)
    before = recording_status(rec(), observe(t), T0)
    assert before.stored_bytes == 4000 and before.videos[0].origin is not None
    deleted_at = T0 + timedelta(days=7)
    after = recording_status(rec(status=before.wire()), observe(t, expired={ORIGIN_URL: deleted_at}), T0)
    [video] = after.videos
    assert video.origin is not None and video.origin.expired_at == deleted_at and video.origin.url == ORIGIN_URL
    assert video.expired_at is None and after.stored_bytes == 1000, "the video stays, the original is not counted"
    events = [e for e in recording_events(before, after) if e.reason in ("OriginExpired", "VideoExpired")]
    assert [(e.type, e.reason) for e in events] == [("Normal", "OriginExpired")] and ORIGIN_URL in events[0].message
    # The recorder goes on reporting the original unexpired: what the operator marked stays.
    kept = recording_status(rec(status=after.wire()), observe(t), T0)
    assert kept.videos[0].origin.expired_at == deleted_at and kept.stored_bytes == 1000  # type: ignore[union-attr]
    assert [e.reason for e in recording_events(after, kept)] == []


def test_an_original_on_a_claim_is_known_by_its_path():
    local = {**VIDEO, "url": None, "upload": None, "path": "media/rec-01234567/record-1.mp4"}
    origin = {"width": 1, "height": 1, "path": "media/rec-01234567/record-1-origin.mp4", "sizeBytes": 5}
    video = Video.model_validate({**local, "origin": origin})
    [marked] = merged_videos([video], [video], {origin["path"]: T0})
    assert marked.origin is not None and marked.origin.expired_at == T0 and marked.expired_at is None


def test_videos_a_new_recorder_no_longer_reports_stay_and_a_video_is_one_by_url_or_path():
    local = Video.model_validate({**VIDEO, "path": "media/rec-01234567/record-1.mp4", "upload": "uploading"})
    uploaded = Video.model_validate(VIDEO)  # its local copy is gone: no path
    newer = Video.model_validate({**VIDEO, "url": "s3://videos/k2.mp4", "startedAt": "2026-11-23T11:00:00Z"})
    assert merged_videos([local], [uploaded], {}) == [uploaded]
    assert merged_videos([local], [newer], {}) == [local, newer]
    assert merged_videos([], [newer, uploaded], {}) == [uploaded, newer]
    before = recording_status(rec(), observe(telemetry(videos=[local.wire()])), T0)
    after = recording_status(rec(status=before.wire()), observe(telemetry(videos=[uploaded.wire()])), T0)
    assert [e.reason for e in recording_events(before, after)] == ["VideoUploaded"], "no second RecordingSplit"
