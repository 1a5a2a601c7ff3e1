"""Retention (retention.py): which stored videos are due for expiry."""

from __future__ import annotations

from datetime import UTC, datetime

from streamops.api.recording import Video
from streamops.control.storage.retention import expiry_due

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
