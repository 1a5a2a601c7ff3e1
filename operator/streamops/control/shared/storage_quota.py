"""Recording quotas (issue 13, item 5): a byte limit per namespace (setting recordings_quota_bytes)
and per stream (LiveStream spec.recording.quotaBytes). Usage is the sum of `status.storedBytes` of
the scope's Recordings, read from the operator's Recording index (no API calls). So videos of
deleted Recordings and expired videos (deleteAfterDays) do not count: a Recording's storedBytes
leaves its expired videos out, and a deleted Recording is no longer in the index."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from streamops.control.shared.indexes import RecordingIndex, RecordingIndexFacts, index_values

QuotaLevel = Literal["ok", "almost", "full"]
Scope = Literal["namespace", "stream"]
ALMOST_PERCENT = 80  # the hosted client_storage_almost_exceeded warning
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


def stored(facts: Iterable[RecordingIndexFacts]) -> int:
    return sum(f.stored_bytes for f in facts)


def quota_uses(
    index: RecordingIndex, namespace: str, stream: str, namespace_limit: int, stream_limit: int | None
) -> list[QuotaUse]:
    """The usage of each scope that has a limit. The namespace's usage walks the index's keys: done
    only when the namespace has a limit."""
    uses: list[QuotaUse] = []
    if namespace_limit > 0:
        facts = (f for key, values in index.items() if key[0] == namespace for f in values)
        uses.append(QuotaUse("namespace", stored(facts), namespace_limit))
    if stream_limit:
        uses.append(QuotaUse("stream", stored(index_values(index, (namespace, stream))), stream_limit))
    return uses


def nearest_limit(uses: Iterable[QuotaUse]) -> QuotaUse | None:
    """The scope nearest its limit (the fuller level first, then the higher share); None when
    neither scope has a limit."""
    return max(uses, key=lambda u: (_SEVERITY[u.level], u.used / u.limit), default=None)


def quota_use(
    index: RecordingIndex, namespace: str, stream: str, namespace_limit: int, stream_limit: int | None
) -> QuotaUse | None:
    """The scope nearest its limit, of those that have one (quota_uses)."""
    return nearest_limit(quota_uses(index, namespace, stream, namespace_limit, stream_limit))
