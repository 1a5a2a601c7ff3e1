"""Which stored videos retention has to delete, and how a status marks them (pure: the deletions
are control/storage/retention.py's): deleteAfterDays' due videos, keepOrigin's due originals, the
files a video has in its bucket, `expiredAt` on the deleted ones and the Events that name them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from streamops.api.recording import RecordingStorage, Video, VideoOrigin
from streamops.control.shared.conditions import Transition

VIDEO_EXPIRED = "VideoExpired"  # Event: a video (and its sidecar) deleted by deleteAfterDays
VIDEO_EXPIRY_FAILED = "VideoExpiryFailed"  # Event: deleting expired videos failed (tried again later)
ORIGIN_EXPIRED = "OriginExpired"  # Event: a video's original (keepOrigin) deleted at its deleteAt
ORIGIN_EXPIRY_FAILED = "OriginExpiryFailed"  # Event: deleting expired originals failed (tried again later)


def expiry_due(
    videos: Iterable[Video], delete_after_days: int | None, day_seconds: float, now: datetime
) -> list[Video]:
    """The uploaded videos, not expired yet, that ended deleteAfterDays (of day_seconds) ago or more."""
    if not delete_after_days:
        return []
    age = timedelta(seconds=delete_after_days * day_seconds)
    return [v for v in videos if v.url and v.upload == "uploaded" and v.expired_at is None and v.ended_at + age <= now]


def stored_objects(video: Video) -> list[str]:
    """The keys' URLs of a video's files: its original (still kept) and other renditions first, its
    own file last (so a video marked expired has nothing left behind)."""
    own = [video.url] if video.url else []
    origin = video.origin
    kept = [origin.url] if origin is not None and origin.url and origin.expired_at is None else []
    return kept + [r.url for r in video.renditions if r.url and r.url != video.url] + own


def origin_stored(origin: VideoOrigin) -> bool:
    """The original is there to delete: in the bucket (uploaded), or on the claim (no object: a path)."""
    if origin.url:
        return origin.upload == "uploaded"
    return bool(origin.path)


def origin_expiry_due(videos: Iterable[Video], now: datetime) -> list[Video]:
    """The videos whose original (keepOrigin) is stored, not expired yet, and past its deleteAt.
    A video that expired itself took its original with it."""
    return [
        v
        for v in videos
        if (o := v.origin) is not None
        and v.expired_at is None
        and o.expired_at is None
        and o.delete_at is not None
        and o.delete_at <= now
        and origin_stored(o)
    ]


def marked_expired(
    video: Video, at: datetime | None, expired: Mapping[str, datetime], origin_at: datetime | None = None
) -> Video:
    """The video with `expiredAt`: `at` (already set) or when it was just deleted (url -> when); its
    original's likewise: `origin_at` (already set), or when it was just deleted (its url, or its path
    on a claim -> when)."""
    at = at or (expired.get(video.url) if video.url else None)
    update: dict[str, Any] = {"expired_at": at} if at != video.expired_at else {}
    origin = video.origin
    if origin is not None:
        key = origin.key()
        origin_at = origin_at or origin.expired_at or (expired.get(key) if key else None)
        if origin_at != origin.expired_at:
            update["origin"] = origin.model_copy(update={"expired_at": origin_at})
    return video.model_copy(update=update) if update else video


def expiry_events(
    before: Sequence[Video], current: Sequence[Video], storage: RecordingStorage | None
) -> list[Transition]:
    """A VideoExpired Event per video expired since `before`."""
    expired_before = {v.url for v in before if v.expired_at is not None}
    days = storage.s3.delete_after_days if storage and storage.s3 else None
    after = f" after {days} day(s)" if days else ""
    return [
        Transition("Normal", VIDEO_EXPIRED, f"video {v.url} expired{after}: deleted")
        for v in current
        if v.url and v.expired_at is not None and v.url not in expired_before
    ]


def origin_expiry_events(before: Sequence[Video], current: Sequence[Video]) -> list[Transition]:
    """An OriginExpired Event per original expired since `before` (the video stays)."""
    expired_before = {v.origin.key() for v in before if v.origin is not None and v.origin.expired_at is not None}
    events = []
    for v in current:
        origin = v.origin
        if origin is None or origin.expired_at is None or origin.key() in expired_before:
            continue
        what = f"original {origin.key()} of video {v.url or v.path} deleted (keepOrigin, deleteAt {origin.delete_at})"
        if v.expired_at is not None:
            what = f"original {origin.key()} deleted with its video {v.url or v.path}"
        events.append(Transition("Normal", ORIGIN_EXPIRED, what))
    return events
