"""What a status loop decides about retention (retention.py), pure (runtime/decisions.py): at most every
retention_interval_seconds, the uploaded videos past storage.s3.deleteAfterDays in the status last
written are deleted (a DeleteVideos action, its loop runs it in an API thread); what a deletion did
comes back in the next observation, and its URLs are marked expired by the status function. A failing
deletion posts one Warning per failure streak. The memory is the loop's: a Recording's and a Clip's
decide keep one each (a Recording a second one for its originals: recording/origin_expiry.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from streamops.api.recording import RecordingStorage, S3Storage, Video
from streamops.control.runtime.decisions import PostEvent
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.video_expiry import expiry_due

NEVER = float("-inf")


@dataclass(frozen=True)
class DeleteVideos:
    """An action: delete these expired videos from the bucket of `s3` (retention.delete_videos, in an
    API thread: storing_tick.py)."""

    s3: S3Storage
    videos: tuple[Video, ...]


@dataclass(frozen=True)
class DeleteOrigins:
    """An action: delete the originals (keepOrigin) of these videos from the bucket of `s3`
    (retention.delete_origins); the videos stay."""

    s3: S3Storage
    videos: tuple[Video, ...]


@dataclass(frozen=True)
class Deleted:
    """What a deletion did, as the next observe reads it: the URLs deleted (a video's, its
    original's), and why it stopped (None: all went; a message with no credentials in it)."""

    done: tuple[str, ...] = ()
    failed: str | None = None


@dataclass(frozen=True)
class Retention:
    """When the loop last looked (monotonic), what was deleted (url or path -> when: the status
    function marks them), and whether deleting fails (one Warning per streak)."""

    expired: tuple[tuple[str, datetime], ...] = ()
    checked_at: float = NEVER
    failing: bool = False

    def deleted(self) -> dict[str, datetime]:
        return dict(self.expired)

    def due(self, monotonic: float, settings: OperatorSettings) -> bool:
        return monotonic - self.checked_at >= settings.recordings.retention_interval_seconds

    def with_deleted(self, keys: Sequence[str], at: datetime) -> Retention:
        known = self.deleted()
        added = tuple((k, at) for k in dict.fromkeys(keys) if k not in known)
        return replace(self, expired=self.expired + added) if added else self


def videos_to_delete(
    memory: Retention,
    settings: OperatorSettings,
    monotonic: float,
    now: datetime,
    storage: RecordingStorage | None,
    videos: Sequence[Video],
) -> tuple[DeleteVideos | None, Retention]:
    """The deletion due now, if any, over the status last written (`storage`, `videos`: a finished
    object's too: its loop keeps ticking at the idle interval, and this is a scan of its videos
    until one is due)."""
    if not memory.due(monotonic, settings):
        return None, memory
    memory = replace(memory, checked_at=monotonic)
    s3 = storage.s3 if storage is not None else None
    if s3 is None or not s3.delete_after_days:
        return None, memory
    known = memory.deleted()
    due = [
        v
        for v in expiry_due(videos, s3.delete_after_days, settings.recordings.retention_day_seconds, now)
        if v.url and v.url not in known
    ]
    return (DeleteVideos(s3, tuple(due)) if due else None), memory


def after_deletion(memory: Retention, deleted: Deleted, at: datetime, reason: str) -> tuple[list[PostEvent], Retention]:
    """What a deletion did, in the memory (its URLs deleted at `at`); a failure is said once per
    streak (a Warning `reason`)."""
    memory = memory.with_deleted(deleted.done, at)
    if deleted.failed is None:
        return [], replace(memory, failing=False)
    events = [] if memory.failing else [PostEvent("Warning", reason, deleted.failed)]
    return events, replace(memory, failing=True)


def expired_keys(*memories: Retention) -> Mapping[str, datetime]:
    """Every URL or path deleted, for the status function."""
    merged: dict[str, datetime] = {}
    for memory in memories:
        merged.update(memory.expired)
    return merged
