"""Recording quotas (issue 13, item 5): a byte limit per namespace (setting recordings_quota_bytes)
and per stream (LiveStream spec.recording.quotaBytes). Usage is the sum of `status.storedBytes` of
the scope's Recordings and of the stored video of its Clips (issue 29: a clip is stored as a
recording's video is), read from the operator's Recording and Clip indexes (no API calls). So
videos of deleted objects and expired videos (deleteAfterDays) do not count: storedBytes leaves
expired videos out, and a deleted object is no longer in its index. Shared by both kinds: a
Recording's loop warns and finalises by it, a Clip's refuses by it before any Pod."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from streamops.control.runtime import operator_metrics
from streamops.control.runtime.indexes import Indexes, StoredFacts, StoredIndex, index_values, indexed_stream
from streamops.control.shared.settings import OperatorSettings

QuotaLevel = Literal["ok", "almost", "full"]
Scope = Literal["namespace", "stream"]
ALMOST_PERCENT = 80  # the hosted client_storage_almost_exceeded warning
NO_SPACE = "NoSpace"  # condition, reason and Event: the quota is used up (the hosted 422)
STORAGE_ALMOST_FULL = "StorageAlmostFull"  # condition and Event: 80 % of a quota used
NO_SPACE_MESSAGE = "no space for recording the stream"  # the hosted API's words
# Usage changes at most every metrics_write_seconds per Recording (storedBytes is a metric field),
# and the namespace's sum walks the indexes: no need to add it up on every 0.5 s tick.
QUOTA_CHECK_SECONDS = 2.0
_SEVERITY: dict[QuotaLevel, int] = {"ok": 0, "almost": 1, "full": 2}


def quota(usage: int, limit: int) -> QuotaLevel:
    """full at 100 % or more, almost at 80 % or more; no limit (0) is always ok."""
    if limit <= 0:
        return "ok"
    if usage >= limit:
        return "full"
    return "almost" if usage * 100 >= limit * ALMOST_PERCENT else "ok"


@dataclass(frozen=True)
class QuotaUse:
    """One scope's usage against its limit."""

    scope: Scope
    used: int
    limit: int

    @property
    def level(self) -> QuotaLevel:
        return quota(self.used, self.limit)

    def describe(self) -> str:
        percent = self.used * 100 // self.limit if self.limit else 0
        return f"used {self.used} of {self.limit} bytes ({percent} %) of {self.scope} quota"


def stored(facts: Iterable[StoredFacts]) -> int:
    return sum(f.stored_bytes for f in facts)


def quota_uses(
    indexes: Sequence[StoredIndex], namespace: str, stream: str, namespace_limit: int, stream_limit: int | None
) -> list[QuotaUse]:
    """The usage of each scope that has a limit, over the indexes given (Recordings', Clips'). The
    namespace's usage walks the indexes' keys: done only when the namespace has a limit."""
    uses: list[QuotaUse] = []
    if namespace_limit > 0:
        facts = (f for index in indexes for key, values in index.items() if key[0] == namespace for f in values)
        uses.append(QuotaUse("namespace", stored(facts), namespace_limit))
    if stream_limit:
        facts = (f for index in indexes for f in index_values(index, (namespace, stream)))
        uses.append(QuotaUse("stream", stored(facts), stream_limit))
    return uses


def nearest_limit(uses: Iterable[QuotaUse]) -> QuotaUse | None:
    """The scope nearest its limit (the fuller level first, then the higher share); None when
    neither scope has a limit."""
    return max(uses, key=lambda u: (_SEVERITY[u.level], u.used / u.limit), default=None)


def quota_use(
    indexes: Sequence[StoredIndex], namespace: str, stream: str, namespace_limit: int, stream_limit: int | None
) -> QuotaUse | None:
    """The scope nearest its limit, of those that have one (quota_uses)."""
    return nearest_limit(quota_uses(indexes, namespace, stream, namespace_limit, stream_limit))


def no_space_message(use: QuotaUse | None) -> str:
    return f"{NO_SPACE_MESSAGE}: {use.describe()}" if use else NO_SPACE_MESSAGE


@dataclass
class QuotaCheck:
    """A status loop's view of its stream's quotas: the scope nearest its limit, looked at most
    every QUOTA_CHECK_SECONDS (None without a limit)."""

    quota: QuotaUse | None = None
    checked_at: float = float("-inf")
    was_full: bool = False  # full as the previous tick saw it

    @property
    def full(self) -> bool:
        return self.quota is not None and self.quota.level == "full"

    def check(self, settings: OperatorSettings, indexes: Indexes, namespace: str, stream: str) -> None:
        """Sums the Recordings' and the Clips' stored bytes from the indexes (no API calls)."""
        now = time.monotonic()
        if now - self.checked_at < QUOTA_CHECK_SECONDS:
            return
        self.checked_at = now
        facts = indexed_stream(indexes.streams, namespace, stream)
        stream_limit = facts.recording_quota_bytes if facts else None
        uses = quota_uses(
            (indexes.recordings, indexes.clips), namespace, stream, settings.recordings.quota_bytes, stream_limit
        )
        self.quota = nearest_limit(uses)
        operator_metrics.storage_quota(namespace, stream, {u.scope: (u.used, u.limit) for u in uses})

    def turned(self) -> bool:
        """Whether full changed since the previous call (space came back, or ran out)."""
        turned, self.was_full = self.full != self.was_full, self.full
        return turned
