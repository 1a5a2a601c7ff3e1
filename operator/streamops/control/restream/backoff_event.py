"""The RestreamBackoff Warning, aggregated the Kubernetes way: one core/v1 Event per failure streak
of the pusher (its `failures` since `failingSince`), created at the streak's first failure and then
updated in place (count, lastTimestamp, message), named after the Restream's uid and the streak's
start so a restarted operator finds it again, updated at most every `metrics_write_seconds`. Pure
functions and the write as an action: the loop decides it (decide.py), backoff_writes.py performs
it. Why: docs/design/restream-accounting.md."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streamops.api import API_VERSION, RESTREAM
from streamops.contract.pusher import PusherStatus
from streamops.contract.worker import iso
from streamops.control.restream import reasons
from streamops.control.restream.status import redact_credentials
from streamops.kube.manifests import Manifest

# What kopf's own Events say they come from (kubectl's "From" column): one name for all of ours.
REPORTING_COMPONENT = "kopf"
MESSAGE_MAX = 1024  # what kopf sends at most, too
NAME_MAX = 253


@dataclass(frozen=True)
class FailureStreak:
    """The pusher's current run of target failures (what one aggregated Event stands for)."""

    since: datetime
    failures: int
    last_error: str | None

    @classmethod
    def of(cls, telemetry: PusherStatus | None) -> FailureStreak | None:
        if telemetry is None or telemetry.failures <= 0 or telemetry.failing_since is None:
            return None
        return cls(telemetry.failing_since, telemetry.failures, telemetry.last_error)


@dataclass(frozen=True)
class RestreamRef:
    namespace: str
    name: str
    uid: str


def event_name(restream: RestreamRef, since: datetime) -> str:
    """`<restream>.<16 hex>`, the hex from the uid and the streak's start (a DNS subdomain, ≤253)."""
    digest = hashlib.sha256(f"{restream.uid}/{iso(since)}".encode()).hexdigest()[:16]
    stem = restream.name[: NAME_MAX - len(digest) - 1].rstrip("-.")
    return f"{stem}.{digest}"


def backoff_message(streak: FailureStreak) -> str:
    error = redact_credentials(streak.last_error) if streak.last_error else "unknown error"
    return f"the target failed, retrying with backoff: {error}"[:MESSAGE_MAX]


def backoff_event(
    restream: RestreamRef, streak: FailureStreak, now: datetime, annotations: Mapping[str, str] | None = None
) -> Manifest:
    """The Event of a streak as first created (count: the failures so far); `annotations`: the
    Restream's client fields (annotated_events.py)."""
    metadata: Manifest = {"name": event_name(restream, streak.since), "namespace": restream.namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": RESTREAM.kind,
            "name": restream.name,
            "namespace": restream.namespace,
            "uid": restream.uid,
        },
        "type": "Warning",
        "reason": reasons.RESTREAM_BACKOFF,
        "message": backoff_message(streak),
        "count": streak.failures,
        "firstTimestamp": iso(streak.since),
        "lastTimestamp": iso(now),
        "source": {"component": REPORTING_COMPONENT},
        "reportingComponent": REPORTING_COMPONENT,
    }


def backoff_event_update(streak: FailureStreak, now: datetime) -> Manifest:
    """The merge patch that brings the streak's Event up to date."""
    return {"count": streak.failures, "lastTimestamp": iso(now), "message": backoff_message(streak)}


@dataclass(frozen=True)
class WrittenSeries:
    """What this operator last wrote of the current streak's Event (`at`: monotonic seconds)."""

    name: str | None = None
    count: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class WriteBackoffEvent:
    """A status loop's action: create the streak's Event (`write` "create") or bring it up to date
    ("update"); once written, the loop records it as its WrittenSeries (at `at`, monotonic), which
    its next observation shows (backoff_writes.py performs it). `annotations`: the Restream's
    client fields."""

    restream: RestreamRef
    streak: FailureStreak
    write: Literal["create", "update"]
    now: datetime
    at: float
    annotations: tuple[tuple[str, str], ...] = ()

    def written(self) -> WrittenSeries:
        return WrittenSeries(event_name(self.restream, self.streak.since), self.streak.failures, self.at)


def next_write(
    written: WrittenSeries, name: str, streak: FailureStreak, now: float, every: float
) -> Literal["create", "update"] | None:
    """Create the Event of a streak not written yet (a new streak, or the first look after the
    operator started: the create finds it exists and updates it); update one whose count grew,
    at most every `every` seconds."""
    if written.name != name:
        return "create"
    if streak.failures > written.count and now - written.at >= every:
        return "update"
    return None
