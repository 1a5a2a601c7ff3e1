"""A busy recorder's handover to a successor Pod, one step a tick (docs/design/handover.md, Part 5):
pure, from what a Recording's status loop observed of its two recorder Pods (the predecessor, and
the successor the reconcile made in the other slot: a warm recorder on the same claim, annotated
successor-of its uid) and of each one's /status.

1. the successor is Ready (waiting for POST /start, as a stream's standby recorder does): the
   predecessor is asked to release (`POST /handover/release`): the state file is then the
   successor's, and the predecessor's part runs on until the successor's first part has read the
   feed (media/recorder/recording.py); a predecessor finalising a video answers 409, asked again;
2. the predecessor says releasing (or released): the successor is sent the Recording's
   configuration (`POST /start`): it finds the video in progress within the reconnect window and
   continues it; the join cuts the two parts' overlap, so the video has no second lost or twice;
3. the successor records (or waits for the feed, not as a standby any more) and the predecessor
   said released: the predecessor is deleted, a Normal Event HandedOver.

The recording ends during the handover (stopped, its quota full: recorder_stop): the stop goes to
whichever Pod holds the state file. The successor once it took it (it runs the Recording): the
predecessor's part is stopped at once (it finalises nothing), it is deleted as in step 3, then the
successor is stopped and finalises the video. Before that the handover is cancelled: the successor
is deleted (it is never started now), the predecessor is stopped and finalises the video; if it was
released already, its stop takes the video back (media/recorder/recording.py: the successor never
wrote the state file). A release or a start in flight is waited for: its answer says who holds it.

A successor not Ready within READY_SECONDS of its creation, not started within START_SECONDS, or
Failed, is deleted, and a Warning Event HandoverFailed says why. Before the release the predecessor
keeps recording and records the failure (the next try waits 30 s, doubling to 10 min). After it,
the predecessor is deleted too: if the successor took the state file, the reconcile's new recorder
continues the video from it within the reconnect window (what the gap between the two held is lost:
the Event says so); if not, the predecessor takes the video back as it ends and finalises it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from streamops.contract.recorder import RELEASE_PATH, RecorderConfig, RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.runtime.decisions import PostEvent, WorkerRequest
from streamops.control.runtime.handover_steps import (
    HANDED_OVER,
    HANDOVER_CANCELLED,
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

START_SECONDS = 120.0  # ... and records (or waits for the feed) within this long of its creation
RELEASE_SLOT, START_SLOT = "handover-release", "handover-start"  # the WorkerRequest slots
STOP_SLOT, HURRY_SLOT = "stop", "handover-stop"  # the holder's stop (decide's own slot), the predecessor's

Step = Literal["Starting", "Releasing", "Continuing", "Ending", "Stopping"]


@dataclass(frozen=True)
class RecorderPair:
    """A Recording's recorder Pods in a handover, and each one's /status (None: not read yet)."""

    predecessor: PodObservation
    successor: PodObservation
    predecessor_status: RecorderStatus | None = None
    successor_status: RecorderStatus | None = None

    @property
    def released(self) -> bool:
        """The predecessor handed the state file over (its part may still run)."""
        return self.predecessor_status is not None and self.predecessor_status.handover is not None

    @property
    def started(self) -> bool:
        """The successor runs the Recording (not a standby waiting for POST /start any more)."""
        return self.successor_status is not None and self.successor_status.state != "standby"

    @property
    def telemetry(self) -> RecorderStatus | None:
        """What the Recording's status is made of: the successor's once it runs the Recording."""
        return self.successor_status if self.started else self.predecessor_status


@dataclass(frozen=True)
class RecorderHandoverState:
    """A handover under way: its step, for the logs."""

    step: Step
    predecessor: str
    successor: str
    part: str


def recorder_handover(
    pair: RecorderPair,
    config: RecorderConfig | None,
    stream: str,
    now: datetime,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], RecorderHandoverState, HandoverMemory]:
    """The step now (the module's docstring), the state for the logs, the memory. `config`: what the
    successor is sent by POST /start (the reconcile's; None: not known yet)."""
    old, new = pair.predecessor, pair.successor
    state = RecorderHandoverState("Starting", old.name, new.name, new.handover_for)
    age = (now - new.created_at).total_seconds() if new.created_at else 0.0
    why = None
    if new.phase in ("Failed", "Succeeded"):
        why = f"Pod {new.name} is {new.phase}: {new.detail or 'its worker ended'}"
    elif not new.ready and not pair.started and age > READY_SECONDS:
        waiting = new.unschedulable or new.waiting or new.detail or "not Ready"
        why = f"{new.name} was not Ready within {READY_SECONDS:.0f} s ({waiting})"
    elif not pair.started and age > START_SECONDS:
        why = f"{new.name} did not take the recording over within {START_SECONDS:.0f} s"
    if why is not None:
        return _fail(pair, why, now, memory)
    if not pair.started and not new.ready:
        return [], state, memory
    if not pair.released:
        state = replace(state, step="Releasing")
        key = f"release/{old.uid}"
        if pair.predecessor_status is None or RELEASE_SLOT in in_flight or not due(memory, key, monotonic):
            return [], state, memory
        return [WorkerRequest(old, "POST", RELEASE_PATH, stream, RELEASE_SLOT)], state, sent(memory, [key], monotonic)
    if not pair.started:
        state = replace(state, step="Continuing")
        key = f"start/{new.uid}"
        if config is None or START_SLOT in in_flight or not due(memory, key, monotonic):
            return [], state, memory
        body = json.dumps(config.wire()).encode()
        request = WorkerRequest(new, "POST", START_PATH, stream, START_SLOT, body)
        return [request], state, sent(memory, [key], monotonic)
    state = replace(state, step="Ending")
    key = f"handed-over/{old.uid}"
    status = pair.predecessor_status
    ended = status is None or status.handover == "released"
    if key in memory.done or not ended:
        return [], state, memory  # its part ends once ours has read the feed (≤ 8 s)
    because = f" because {new.handover_for} changed" if new.handover_for else ""
    event = PostEvent("Normal", HANDED_OVER, f"recorder handed over from {old.name} to {new.name}{because}")
    return [DeletePod(old), event], state, done(memory, key)


def recorder_stop(
    pair: RecorderPair,
    stream: str,
    now: datetime,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], RecorderHandoverState, HandoverMemory]:
    """The recording ends during the handover (the module's docstring): its stop to the Pod that
    holds the state file, each stop sent again after RESEND_SECONDS until the Pod says stopped."""
    old, new = pair.predecessor, pair.successor
    state = RecorderHandoverState("Stopping", old.name, new.name, new.handover_for)
    if RELEASE_SLOT in in_flight or START_SLOT in in_flight:
        return [], state, memory  # its answer says who holds the state file
    if pair.started:
        # The successor holds it: the predecessor's part stopped now (the successor finalises the
        # parts once it has ended), the predecessor deleted once released, then the successor stopped.
        actions, _, memory = recorder_handover(pair, None, stream, now, monotonic, in_flight, memory)
        status = pair.predecessor_status
        if status is not None and status.handover == "releasing":
            hurry, memory = _stop(old, HURRY_SLOT, status, stream, monotonic, in_flight, memory)
            return [*actions, *hurry], state, memory
        requests, memory = _stop(new, STOP_SLOT, pair.successor_status, stream, monotonic, in_flight, memory)
        return [*actions, *requests], state, memory
    # The predecessor holds it (released: its stop takes it back, unless the successor wrote the state
    # file, which it checks), and the successor is never started: deleted once it is known not to
    # have taken the video (it says standby, or the predecessor never released it).
    cancel: list[HandoverAction] = []
    key = f"cancelled/{new.uid}"
    unreleased = pair.predecessor_status is not None and pair.predecessor_status.handover is None
    if key not in memory.done and (pair.successor_status is not None or unreleased):
        message = (
            f"recorder handover from {old.name} to {new.name} cancelled: the recording ends; "
            f"{old.name} finalises the video"
        )
        cancel = [DeletePod(new), PostEvent("Normal", HANDOVER_CANCELLED, message)]
        memory = done(memory, key)
    requests, memory = _stop(old, STOP_SLOT, pair.predecessor_status, stream, monotonic, in_flight, memory)
    return [*cancel, *requests], state, memory


def _stop(
    pod: PodObservation,
    slot: str,
    status: RecorderStatus | None,
    stream: str,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], HandoverMemory]:
    """POST /stop to `pod` on `slot`, unless it says stopped, or one is in flight or was sent under
    RESEND_SECONDS ago."""
    key = f"stop/{pod.uid}"
    if (status is not None and status.state == "stopped") or slot in in_flight or not due(memory, key, monotonic):
        return [], memory
    return [WorkerRequest(pod, "POST", STOP_PATH, stream, slot)], sent(memory, [key], monotonic)


def _fail(
    pair: RecorderPair, why: str, now: datetime, memory: HandoverMemory
) -> tuple[list[HandoverAction], RecorderHandoverState, HandoverMemory]:
    old, new = pair.predecessor, pair.successor
    state = RecorderHandoverState("Starting", old.name, new.name, new.handover_for)
    key = f"failed/{new.uid}"
    if key in memory.done:
        return [], state, memory
    prefix = f"recorder handover from {old.name} to {new.name} failed: {why}"
    if pair.released:
        # Taken by the successor: a new recorder continues the video from the state file; else the
        # predecessor takes it back as it ends (media/recorder/recording.py) and finalises it.
        message = (
            f"{prefix}; {old.name} had released the video: a new recorder continues it from the state file "
            f"if {new.name} took it, else {old.name} finalises it as it ends"
        )
        actions: list[HandoverAction] = [DeletePod(new), DeletePod(old)]
        return [*actions, PostEvent("Warning", HANDOVER_FAILED, message)], state, done(memory, key)
    failure = next_failure(old, why, now)
    wait = (failure.retry_at - failure.at).total_seconds()
    message = f"{prefix}; {old.name} keeps recording, tried again in {wait:.0f} s"
    actions = [
        PatchPod(old, failure_patch(failure)),
        DeletePod(new),
        PostEvent("Warning", HANDOVER_FAILED, message),
    ]
    return actions, state, done(memory, key)
