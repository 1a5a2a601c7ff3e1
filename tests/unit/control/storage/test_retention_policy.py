"""What a status loop decides about retention (retention_policy.py), pure: at most every
retention_interval_seconds, a DeleteVideos of the due videos not deleted yet, none for a storage
without deleteAfterDays or on a claim; what a deletion did, marked, and its failure said once per
streak. The whole loop's rows: tests/unit/control/{recording,clip}/test_decide.py."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.catalog import stored_video
from streamops.api.recording import RecordingStorage, Video
from streamops.control.runtime.decisions import PostEvent
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.retention_policy import (
    Deleted,
    DeleteVideos,
    Retention,
    after_deletion,
    expired_keys,
    videos_to_delete,
)

SETTINGS = OperatorSettings(recordings=RecordingsSettings(retention_interval_seconds=600))
NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
S3 = {"endpoint": "https://s3.example", "bucket": "videos", "credentialsSecret": "s3"}
RETAINED = RecordingStorage.model_validate({"s3": {**S3, "deleteAfterDays": 1}})
OLD = Video.model_validate(stored_video("media/cam/old.mp4"))  # ended 2026-11-23: long due


def test_due_videos_are_deleted_at_most_every_interval_and_once() -> None:
    delete, memory = videos_to_delete(Retention(), SETTINGS, 1000.0, NOW, RETAINED, [OLD])
    assert delete == DeleteVideos(RETAINED.s3, (OLD,)) and memory.checked_at == 1000.0  # type: ignore[arg-type]
    assert videos_to_delete(memory, SETTINGS, 1599.0, NOW, RETAINED, [OLD]) == (None, memory), "not before"
    done = memory.with_deleted([str(OLD.url)], NOW)
    assert videos_to_delete(done, SETTINGS, 1600.0, NOW, RETAINED, [OLD])[0] is None, "deleted: not again"


def test_a_storage_without_retention_or_a_claim_deletes_nothing() -> None:
    claim = RecordingStorage.model_validate({"pvc": {"claimName": "videos"}})
    kept = RecordingStorage.model_validate({"s3": S3})
    for storage in (None, claim, kept):
        assert videos_to_delete(Retention(), SETTINGS, 1000.0, NOW, storage, [OLD])[0] is None


def test_a_failing_deletion_is_said_once_per_streak_and_what_went_is_marked() -> None:
    failed = Deleted(("s3://videos/a.mp4",), "deleting s3://videos/b.mp4: AccessDenied")
    events, memory = after_deletion(Retention(), failed, NOW, "VideoExpiryFailed")
    assert events == [PostEvent("Warning", "VideoExpiryFailed", failed.failed or "")] and memory.failing
    assert expired_keys(memory) == {"s3://videos/a.mp4": NOW}
    events, memory = after_deletion(memory, failed, NOW, "VideoExpiryFailed")
    assert events == [] and memory.failing, "the same streak"
    events, memory = after_deletion(memory, Deleted(("s3://videos/b.mp4",)), NOW, "VideoExpiryFailed")
    assert events == [] and not memory.failing and len(memory.expired) == 2
