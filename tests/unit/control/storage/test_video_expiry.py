"""Retention (video_expiry.py): which stored videos, and which originals (keepOrigin), are due for expiry."""

from __future__ import annotations

from datetime import UTC, datetime

from streamops.api.recording import Video
from streamops.control.storage.video_expiry import expiry_due, marked_expired, origin_expiry_due, stored_objects

VIDEO = {
    "title": "Stream Record: Camera, 2026-11-23 10:00:10 UTC",
    "url": "s3://videos/streamops/media/cam/2026/11/23/10/00/rec-01234567/record-1.mp4",
    "upload": "uploaded",
    "durationSeconds": 10.0,
    "sizeBytes": 1000,
    "startedAt": "2026-11-23T10:00:00Z",
    "endedAt": "2026-11-23T10:00:10Z",
}


def test_retention_selects_uploaded_videos_older_than_the_days():
    old = Video.model_validate(VIDEO)
    pending = Video.model_validate({**VIDEO, "upload": "pending"})
    gone = Video.model_validate({**VIDEO, "expiredAt": "2026-11-24T00:00:00Z"})
    local = Video.model_validate({**VIDEO, "url": None, "upload": None, "path": "media/x.mp4"})
    new = Video.model_validate({**VIDEO, "endedAt": "2026-11-25T10:00:00Z"})
    now = datetime(2026, 11, 25, 10, 0, 15, tzinfo=UTC)
    assert expiry_due([old, pending, gone, local, new], 2, 86400, now) == [old]
    assert expiry_due([old, new], None, 86400, now) == []
    assert expiry_due([old, new], 1, 5, now) == [old, new], "a short day (the test knob) expires sooner"


ORIGIN = {"width": 1280, "height": 720, "sizeBytes": 3000, "deleteAt": "2026-11-30T10:00:10Z"}
ORIGIN_URL = VIDEO["url"].replace("record-1", "record-1-origin")  # type: ignore[union-attr]


def test_originals_are_due_at_their_delete_at_on_a_claim_and_in_a_bucket():
    in_bucket = Video.model_validate({**VIDEO, "origin": {**ORIGIN, "url": ORIGIN_URL, "upload": "uploaded"}})
    uploading = Video.model_validate({**VIDEO, "origin": {**ORIGIN, "url": ORIGIN_URL, "upload": "uploading"}})
    on_claim = Video.model_validate(
        {**VIDEO, "url": None, "upload": None, "path": "m/r/record-1.mp4", "origin": {**ORIGIN, "path": "m/r/o.mp4"}}
    )
    gone = Video.model_validate({**VIDEO, "origin": {**ORIGIN, "url": ORIGIN_URL, "upload": "uploaded",
                                                     "expiredAt": "2026-11-30T10:00:11Z"}})  # fmt: skip
    video_gone = Video.model_validate({**in_bucket.wire(), "expiredAt": "2026-11-24T00:00:00Z"})
    plain = Video.model_validate(VIDEO)
    before = datetime(2026, 11, 30, 10, 0, 9, tzinfo=UTC)
    at = datetime(2026, 11, 30, 10, 0, 10, tzinfo=UTC)
    videos = [in_bucket, uploading, on_claim, gone, video_gone, plain]
    assert origin_expiry_due(videos, before) == []
    assert origin_expiry_due(videos, at) == [in_bucket, on_claim], "stored, not expired, its video still there"


def test_a_video_deleted_by_delete_after_days_takes_its_original_with_it():
    video = Video.model_validate({**VIDEO, "origin": {**ORIGIN, "url": ORIGIN_URL, "upload": "uploaded"}})
    assert stored_objects(video) == [ORIGIN_URL, VIDEO["url"]], "the video's own object last"
    expired = Video.model_validate(
        {**video.wire(), "origin": {**video.origin.wire(), "expiredAt": "2026-11-30T10:00:10Z"}}
    )  # type: ignore[union-attr]
    assert stored_objects(expired) == [VIDEO["url"]], "an original deleted already is not asked again"
    at = datetime(2026, 11, 25, tzinfo=UTC)
    marked = marked_expired(video, None, {VIDEO["url"]: at, ORIGIN_URL: at})  # type: ignore[dict-item]
    assert marked.expired_at == at and marked.origin is not None and marked.origin.expired_at == at
    assert marked.stored_size() == 1000, "(expired: the quota no longer counts the original)"
