"""Conditions the Kubernetes way: lastTransitionTime moves only when status changes, and
Reconciling/Stalled exist only while they are True (what kstatus, Flux and Argo CD expect)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streamops.api.common import Condition, ConditionStatus
from streamops.kube.naming import IMMEDIATE, RESTARTS_ANNOTATION

READY, STALLED, RECONCILING = "Ready", "Stalled", "Reconciling"
BACKUP_READY = "BackupReady"  # a LiveStream with a backup ingest: Ready's counterpart for the backup
# A running worker differs from what it should run in a way that can wait until it is idle
# (control/workers/restarts.py): present, True, only while one waits.
RESTART_PENDING = "RestartPending"
WAITING_FOR_IDLE = "WaitingForIdle"
WORKER_REPLACED = "WorkerReplaced"  # the Event of a worker Pod replaced for a difference it needed
ABNORMAL_TRUE = (RECONCILING, STALLED)

# Reasons more than one kind gives, with one meaning (each kind's reasons.py names them again).
INVALID_SPEC = "InvalidSpec"  # the API server let the spec through, the operator cannot use it
INACTIVE = "Inactive"  # spec.active false
# The admin's tenancy policy refuses what the spec asks for (control/shared/tenancy.py): the message says what
REFUSED_BY_POLICY = "RefusedByPolicy"
STREAM_KEY_SECRET_NOT_FOUND = "StreamKeySecretNotFound"  # a referenced key Secret (or its key) is missing
STREAM_NOT_FOUND = "StreamNotFound"  # the streamRef names no LiveStream
STREAM_NOT_LIVE = "StreamNotLive"  # waiting for the stream to go live


@dataclass(frozen=True)
class Observed:
    """A condition as the status function decides it, before time bookkeeping."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def ready_and(own: str, ready: ConditionStatus, status: ConditionStatus, reason: str, message: str) -> list[Observed]:
    """Ready and the kind's own condition (a Restream's Live, a Recording's Recording), for one reason."""
    return [Observed(READY, ready, reason, message), Observed(own, status, reason, message)]


def stream_not_found(own: str, stream: str) -> list[Observed]:
    """A Recording's or Restream's conditions while the LiveStream it names does not exist."""
    return ready_and(own, "False", "False", STREAM_NOT_FOUND, f"LiveStream {stream} does not exist")


def stream_not_live(own: str, stream: str, backup_only: bool = False) -> list[Observed]:
    """A Recording's or Restream's conditions while its LiveStream is not live (`backup_only`: only
    its backup ingest receives media, with no primary ingest to serve it)."""
    message = f"waiting for LiveStream {stream} to go live"
    if backup_only:
        message = (
            f"waiting for LiveStream {stream}: only its backup ingest receives media, and its primary ingest, "
            "through which recordings and restreams get it, is not running"
        )
    return ready_and(own, "False", "False", STREAM_NOT_LIVE, message)


def worker_on_its_way(own: str, ready: Observed) -> list[Observed]:
    """The worker Pod is being created or starting (`ready` says how far it is): not Ready,
    Reconciling, and the kind's own condition False for the same reason."""
    return [
        ready,
        Observed(RECONCILING, "True", ready.reason, ready.message),
        Observed(own, "False", ready.reason, ready.message),
    ]


def merge_conditions(
    previous: list[Condition], observed: list[Observed], generation: int | None, now: datetime
) -> list[Condition]:
    before = {c.type: c for c in previous}
    merged: list[Condition] = []
    for o in observed:
        if o.type in ABNORMAL_TRUE and o.status != "True":
            continue
        old = before.get(o.type)
        since = old.last_transition_time if old is not None and old.status == o.status else now
        merged.append(
            Condition(
                type=o.type,
                status=o.status,
                reason=o.reason,
                message=o.message,
                last_transition_time=since,
                observed_generation=generation,
            )
        )
    return merged


def restart_pending(waiting: Mapping[str, str]) -> list[Observed]:
    """RestartPending while workers wait to be idle for a restart (`waiting`: which worker, the
    first difference), none otherwise."""
    if not waiting:
        return []
    said = "; ".join(f"{worker}: {part} changed" for worker, part in sorted(waiting.items()))
    message = (
        f"{said}. Applied once it is idle (no publisher, recording or push), or now with the annotation "
        f"{RESTARTS_ANNOTATION}={IMMEDIATE}"
    )
    return [Observed(RESTART_PENDING, "True", WAITING_FOR_IDLE, message[:4096])]


@dataclass(frozen=True)
class Transition:
    """What an Event says about a condition that changed."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


# Only these post an Event on every change; Live/Recording/... have events that say more, posted by
# each kind's own events function.
EVENTFUL = (READY, STALLED, RESTART_PENDING)


def condition_transitions(previous: list[Condition], current: list[Condition]) -> list[Transition]:
    before = {c.type: c.status for c in previous}
    events = []
    for c in current:
        if c.type not in EVENTFUL or before.get(c.type) == c.status or c.status == "Unknown":
            continue
        if c.type == READY and c.status == "False" and READY not in before:
            # A new object not ready yet (its Pod being created, its stream not live): nothing
            # changed, its status says so. (In a burst of 500 streams + 500 Restreams, 1000 Events.)
            continue
        bad = (c.type == STALLED and c.status == "True") or (
            c.type == READY and c.status == "False" and before.get(c.type) == "True"
        )
        events.append(Transition("Warning" if bad else "Normal", c.reason, c.message or f"{c.type} is {c.status}"))
    return events
