"""A busy shared pusher's handover to a successor Pod, one step a tick (docs/design/handover.md,
Part 5): pure, from what a Restream's status loop observed of the stream's two pusher Pods (the
predecessor, and the successor the reconcile made in the other slot, annotated successor-of its
uid) and of each one's /status (the set of targets it runs).

1. the successor is Ready and no ingest of the stream is being handed over (its LiveStream's
   HandingOver condition): the predecessor is sent the empty set (PUT /targets): its FFmpegs close
   their publishes (a target takes one publisher per key: nginx-rtmp answers a second one
   "NetStream.Publish.BadName: Already publishing", so the successor cannot connect first). Not
   while the ingest moves: the successor reads the feed through the ingest's internal Service,
   which then routes to the ingest's successor, whose feed has no media until the encoder is back
   on it; released then, the targets were off air 5.9 s (a drain moving both, issue 56's multinode
   run, s15), where the two handovers one after the other cost each a gap of its own;
2. the predecessor runs no target: the successor is sent the stream's set;
3. the successor runs the set: the predecessor is deleted, a Normal Event HandedOver.

Each target reconnects once. A successor not Ready within READY_SECONDS of its creation, not running
the set within CONNECT_SECONDS, or Failed, is deleted: the predecessor keeps its Pod, records the
failure (the next try waits 30 s, doubling to 10 min: handover_marks.HandoverFailure), is sent the
set again by the loop's ordinary send, and a Warning Event HandoverFailed says why. Every step is
decided from what is observed (an operator restarted mid-handover resumes it); the memory only
keeps a request from being repeated before /status shows it, and an Event from being said twice.
Every Restream of the stream runs these steps on the same Pods: the requests are the same, and a
deletion names its uid."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from streamops.contract.pusher import TARGETS_PATH, PusherSetStatus, PusherTargets
from streamops.control.runtime.decisions import PostEvent, WorkerRequest
from streamops.control.runtime.handover_steps import (
    HANDED_OVER,
    HANDOVER_FAILED,
    READY_SECONDS,
    DeletePod,
    HandoverAction,
    HandoverMemory,
    PatchPod,
    done,
    due,
    next_failure,
    sent,
)
from streamops.control.workers.handover_marks import failure_patch
from streamops.control.workers.pod_observation import PodObservation

CONNECT_SECONDS = 120.0  # ... and runs the stream's set within this long of its creation
HANDOVER_SLOT = "handover"  # the WorkerRequest slot of the handover's PUT /targets

Step = Literal["Starting", "WaitingForIngest", "Releasing", "Connecting"]


@dataclass(frozen=True)
class PusherPair:
    """The stream's pusher Pods in a handover, and each one's /status (None: not read yet)."""

    predecessor: PodObservation
    successor: PodObservation
    predecessor_set: PusherSetStatus | None = None
    successor_set: PusherSetStatus | None = None


@dataclass(frozen=True)
class PusherHandoverState:
    """A handover under way: its step, for the logs and the status loop's choice of telemetry."""

    step: Step
    predecessor: str
    successor: str
    part: str

    @property
    def message(self) -> str:
        doing = {
            "Starting": f"{self.successor} is starting",
            "WaitingForIngest": f"{self.predecessor} keeps its targets while the stream's ingest is handed over",
            "Releasing": f"{self.predecessor} lets its targets go",
            "Connecting": f"{self.successor} connects the targets",
        }[self.step]
        because = f" because {self.part} changed" if self.part else ""
        return f"pusher handing over from {self.predecessor} to {self.successor}{because}: {doing}"


def pusher_handover(
    pair: PusherPair,
    wanted: PusherTargets | None,
    stream: str,
    now: datetime,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
    ingest_moving: bool = False,
) -> tuple[list[HandoverAction], PusherHandoverState, HandoverMemory]:
    """The step now (the module's docstring), the state for status and logs, the memory.
    `ingest_moving`: an ingest of the stream is being handed over (the predecessor is not released
    meanwhile)."""
    old, new = pair.predecessor, pair.successor
    state = PusherHandoverState("Starting", old.name, new.name, new.handover_for)
    age = (now - new.created_at).total_seconds() if new.created_at else 0.0
    wanted_versions = wanted.versions() if wanted is not None else None
    connected = pair.successor_set is not None and pair.successor_set.versions() == wanted_versions
    why = None
    if new.phase in ("Failed", "Succeeded"):
        why = f"Pod {new.name} is {new.phase}: {new.detail or 'its worker ended'}"
    elif not new.ready and age > READY_SECONDS:
        waiting = new.unschedulable or new.waiting or new.detail or "not Ready"
        why = f"{new.name} was not Ready within {READY_SECONDS:.0f} s ({waiting})"
    elif new.ready and age > CONNECT_SECONDS and not connected:
        why = f"{new.name} did not run the stream's targets within {CONNECT_SECONDS:.0f} s"
    if why is not None:
        return _fail(old, new, why, now, memory)
    if not new.ready or wanted is None:
        return [], state, memory
    released = pair.predecessor_set is not None and not pair.predecessor_set.targets
    if not released and not connected and ingest_moving and f"release/{old.uid}" not in memory.sent:
        return [], replace(state, step="WaitingForIngest"), memory
    if not released and not connected:
        state = replace(state, step="Releasing")
        key = f"release/{old.uid}"
        if pair.predecessor_set is None or HANDOVER_SLOT in in_flight or not due(memory, key, monotonic):
            return [], state, memory
        # Answered once its targets' connections closed (media/pusher/worker.py): its answer wakes
        # the loop, which reads it afresh and sends the successor the set in that tick.
        request = WorkerRequest(old, "PUT", TARGETS_PATH, stream, HANDOVER_SLOT, PusherTargets().body(), wake=True)
        return [request], state, sent(memory, [key], monotonic)
    state = replace(state, step="Connecting")
    if not connected:
        key = f"connect/{new.uid}"
        if pair.successor_set is None or HANDOVER_SLOT in in_flight or not due(memory, key, monotonic):
            return [], state, memory
        request = WorkerRequest(new, "PUT", TARGETS_PATH, stream, HANDOVER_SLOT, wanted.body(), wake=True)
        return [request], state, sent(memory, [key], monotonic)
    key = f"handed-over/{old.uid}"
    if key in memory.done:
        return [], state, memory
    because = f" because {new.handover_for} changed" if new.handover_for else ""
    event = PostEvent("Normal", HANDED_OVER, f"pusher handed over from {old.name} to {new.name}{because}")
    return [DeletePod(old), event], state, done(memory, key)


def _fail(
    old: PodObservation, new: PodObservation, why: str, now: datetime, memory: HandoverMemory
) -> tuple[list[HandoverAction], PusherHandoverState, HandoverMemory]:
    """The successor goes; the predecessor keeps its Pod and records the failure (written before the
    deletion: the reconcile the deletion brings sees it); the loop's ordinary send gives it its
    targets back."""
    state = PusherHandoverState("Starting", old.name, new.name, new.handover_for)
    key = f"failed/{new.uid}"
    if key in memory.done:
        return [], state, memory
    failure = next_failure(old, why, now)
    wait = (failure.retry_at - failure.at).total_seconds()
    message = (
        f"pusher handover from {old.name} to {new.name} failed: {why}; "
        f"{old.name} keeps running, tried again in {wait:.0f} s"
    )
    actions: list[HandoverAction] = [
        PatchPod(old, failure_patch(failure)),
        DeletePod(new),
        PostEvent("Warning", HANDOVER_FAILED, message),
    ]
    return actions, state, done(memory, key)
