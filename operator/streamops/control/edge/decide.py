"""The namespace's edge loop's decide (pure): after a reconcile of the edge, when to look again and
whether the loop ends. A failed reconcile is tried again with backoff (1, 2, 4 … 60 s); a write that
met a newer object is read again soon, not at the next resync; the loop ends once no stream wants
the edge and it is gone — unless something woke it meanwhile."""

from __future__ import annotations

from dataclasses import dataclass

CONFLICT_RETRY_SECONDS = 0.2  # a write that met a newer object: read again soon, not at the next resync
FIRST_RETRY_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class EdgeLook:
    timeout: float  # until the next look (unless woken)
    retry: float  # the backoff of the next failure
    done: bool = False  # the loop ends: no stream wants the edge and it is gone


@dataclass(frozen=True)
class EdgeResult:
    """What the reconcile of the edge said (None of it when it failed)."""

    wanted: bool  # some stream wants the edge
    conflict: bool  # an object changed while it was written


def next_look(result: EdgeResult | None, retry: float, woken: bool, resync_seconds: float) -> EdgeLook:
    if result is None:
        return EdgeLook(retry, min(retry * 2, RETRY_MAX_SECONDS))
    if not result.wanted and not result.conflict and not woken:
        return EdgeLook(0.0, FIRST_RETRY_SECONDS, done=True)
    return EdgeLook(CONFLICT_RETRY_SECONDS if result.conflict else resync_seconds, FIRST_RETRY_SECONDS)
