"""The absolute range a Clip cuts: as given, or the lastSeconds before its creation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamops.api import Clip


@dataclass(frozen=True)
class ClipRange:
    start: datetime
    end: datetime


def created_at(clip: Clip) -> datetime:
    """The Clip's creationTimestamp (what lastSeconds and the future-end limit count from)."""
    stamp = getattr(clip.metadata, "creationTimestamp", None) or (clip.metadata.model_extra or {}).get(
        "creationTimestamp"
    )
    if isinstance(stamp, datetime):
        return stamp.astimezone(UTC)
    if isinstance(stamp, str):
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    raise ValueError("the Clip has no creationTimestamp")


def clip_range(clip: Clip) -> ClipRange:
    """The absolute range: start and end as given, or the lastSeconds before the Clip's creation."""
    spec = clip.spec
    if spec.start is not None and spec.end is not None:
        start = spec.start if spec.start.tzinfo else spec.start.replace(tzinfo=UTC)
        end = spec.end if spec.end.tzinfo else spec.end.replace(tzinfo=UTC)
        return ClipRange(start.astimezone(UTC), end.astimezone(UTC))
    end = created_at(clip)
    return ClipRange(end - timedelta(seconds=spec.last_seconds or 0), end)
