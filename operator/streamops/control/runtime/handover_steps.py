"""What a worker Pod's handover to a successor takes, the same for the ingest, the recorder and the
pusher (docs/design/handover.md, Parts 2 and 5): pure. The actions on the two Pods, the bounds of
its steps, the memory that keeps a request or an Event from being repeated before its effect shows,
the pair of Pods a handover runs on, and the failure record a failed one leaves on its predecessor.
Each kind's handover.py keeps its own steps (what it asks of which worker, and when)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from streamops.control.runtime.decisions import PostEvent, WorkerRequest
from streamops.control.workers.handover_marks import HandoverFailure
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Manifest

READY_SECONDS = 60.0  # a successor is Ready within this long of its creation (image pulled, started)
RESEND_SECONDS = 2.0  # a request or patch whose effect is not observed yet is sent again after this
HANDED_OVER, HANDOVER_FAILED = "HandedOver", "HandoverFailed"  # the Events' reasons
HANDOVER_CANCELLED = "HandoverCancelled"  # ... and a recorder's handover given up as its recording ends


@dataclass(frozen=True)
class PatchPod:
    """A label or annotation patch of one worker Pod (handover_marks.py's patches), made only to
    the Pod of that uid (handover_writes.py)."""

    pod: PodObservation
    patch: Manifest = field(hash=False)


@dataclass(frozen=True)
class DeletePod:
    """One worker Pod deleted (that uid only), with its grace period: a handed-over predecessor, a
    failed successor."""

    pod: PodObservation


HandoverAction = PatchPod | DeletePod | PostEvent | WorkerRequest


@dataclass(frozen=True)
class HandoverMemory:
    """What was sent and when (monotonic), by key, so a step is not repeated before it shows; the
    terminal steps (a deletion and its Event) taken, by key."""

    sent: Mapping[str, float] = field(default_factory=dict)
    done: tuple[str, ...] = ()


def due(memory: HandoverMemory, key: str, monotonic: float) -> bool:
    """The request of `key` was never sent, or RESEND_SECONDS ago."""
    at = memory.sent.get(key)
    return at is None or monotonic - at >= RESEND_SECONDS


def sent(memory: HandoverMemory, keys: Sequence[str], monotonic: float) -> HandoverMemory:
    # Only the keys of Pods still in a handover matter: a handful; the oldest are dropped.
    kept = dict(list(memory.sent.items())[-16:])
    return replace(memory, sent=kept | dict.fromkeys(keys, monotonic))


def done(memory: HandoverMemory, key: str) -> HandoverMemory:
    return replace(memory, done=(*memory.done[-7:], key))


def pair_of(pods: list[PodObservation]) -> tuple[PodObservation, PodObservation] | None:
    """(predecessor, successor) of a worker's Pods when one is the other's successor."""
    alive = [p for p in pods if p.exists and not p.deleting]
    for successor in alive:
        for predecessor in alive:
            if successor.successor_of and successor.successor_of == predecessor.uid:
                return predecessor, successor
    return None


def worker_and_successor(pods: list[PodObservation]) -> tuple[PodObservation | None, PodObservation | None]:
    """(the worker, its successor): in a handover the predecessor and the successor; else the one
    Pod (of a deleting one and another, the other)."""
    pair = pair_of(pods)
    if pair is not None:
        return pair
    alive = [p for p in pods if not p.deleting] or pods
    return (alive[0] if alive else None), None


def next_failure(predecessor: PodObservation, why: str, now: datetime) -> HandoverFailure:
    """The failure record a failed handover leaves on its predecessor: one more in a row."""
    before = HandoverFailure.parse(predecessor.handover_failed)
    return HandoverFailure(now.replace(microsecond=0), (before.count if before else 0) + 1, why[:400])
