"""A live ingest's make-before-break handover, one step a tick (docs/design/handover.md): pure, from
what the status loop observed of a role's two Pods (ingest_address.ingest_slots) and of their
workers' /status `handover` reports. The reconcile creates the successor (plan.py's
plan_successor); from there on:

1. the successor is Ready: POST HandoverFollow to it (its predecessor's internal face);
2. it says caught-up: it is labelled serving (the Services then have both: never none);
3. the predecessor loses the label and records when (handed-over-at); it is asked to release once
   the role's Service routes to the successor alone (its EndpointSlices, then ROUTE_SYNC_SECONDS for
   each node's kube-proxy; at most ROUTE_WAIT_SECONDS): the encoder, cut by the release, reconnects
   within a second and must reach the successor, not the released predecessor, which refuses it;
4. it says released and the successor on-air, or RELEASE_SECONDS passed: it is deleted, and a
   Normal Event HandedOver names both Pods and the difference.

A primary whose backup ingest is live is switched over as planned: once its successor has caught
up, the predecessor is asked to yield (HANDOVER_YIELD_PATH, a lease renewed every RESEND_SECONDS),
so that the backup's media is on air before its release; the successor, whose own encoder comes back
after the release, switches back to it by the failover's rule (failback.stableSeconds), and the
predecessor goes once it has (or RELEASE_SECONDS passed). The two roles never release at once: a
role whose successor has caught up waits while the other role's handover is past that point.

A successor that is not Ready within READY_SECONDS of its creation, not caught up within
CATCH_UP_SECONDS, or that reports failed, is deleted: its predecessor keeps running, records the
failure (the next successor waits 30 s, doubling to 10 min) and a Warning Event HandoverFailed says
why. Every step is decided from what is observed, so an operator restarted mid-handover resumes it;
the memory only keeps a request or an Event from being repeated before the watch shows its effect.

Once a successor exists, the status loop is the one actor that decides both Pods' fate: the
reconcile only names a successor no longer wanted, and handover_abort.py (before these steps, each
tick) cancels it unless the handover is past its point of no return, or deletes a released
predecessor whose successor is gone (issue 56).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from streamops.contract.ingest import (
    HANDOVER_FOLLOW_PATH,
    HANDOVER_RELEASE_PATH,
    HANDOVER_YIELD_PATH,
    HandoverFollow,
    HandoverReport,
    Role,
)
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
from streamops.control.workers.handover_marks import (
    HandoverFailure,
    failure_patch,
    hold_patch,
    release_patch,
    serve_patch,
)
from streamops.control.workers.pod_observation import PodObservation

CATCH_UP_SECONDS = 120.0  # ... and caught up within this long of its creation
RELEASE_SECONDS = 30.0  # a predecessor goes this long after it stopped serving, released or not
# A planned switchover's backup is on air within this long of the first yield, or the handover goes
# on without it (the ordinary sequence: the primary's encoder reconnects to the successor).
SWITCH_SECONDS = 15.0
# The release cuts the encoder, which reconnects within a second (OBS: its socket's error, then its
# backoff) through the Service. The EndpointSlices the operator watches drop the predecessor a moment
# after its label goes; each node's kube-proxy applies that after its minimum sync period (1 s by
# default, since its last sync: the successor's endpoint added a tick before) and its sync. A
# reconnect before then may reach the released predecessor, which refuses it, and the encoder's next
# try comes after its backoff (issue 56: 2 of 3 handovers in a loaded run, stalls of 2.6 s).
ROUTE_SYNC_SECONDS = 2.0  # from the slices routing to the successor alone to the release
ROUTE_WAIT_SECONDS = 5.0  # from handed-over-at: released then whatever the slices say
HANDING_OVER = "HandingOver"  # the condition, True only while a handover is under way

Step = Literal["Starting", "Following", "Waiting", "SwitchingToBackup", "MovingService", "Releasing"]


@dataclass(frozen=True)
class HandoverState:
    """A handover under way, as status says it (condition HandingOver, the step as its reason)."""

    role: Role
    step: Step
    predecessor: str
    successor: str
    part: str
    switched: bool = False  # a planned switchover: the backup's media went on air before the release
    # What decided the step beyond its message, for the operator's log (not in status): the other
    # role's step a Waiting one waits for, why a primary's handover goes on without the switch.
    why: str = ""

    @property
    def decision(self) -> str:
        """The step and why, as the operator logs it once per change."""
        return f"{self.step}: {self.message}" + (f" ({self.why})" if self.why else "")

    @property
    def message(self) -> str:
        other = "backup" if self.role == "primary" else "primary"
        doing = {
            "Starting": f"{self.successor} is starting",
            "Following": f"{self.successor} follows {self.predecessor}'s media until it has caught up",
            "Waiting": f"{self.successor} has caught up and waits for the {other} ingest's handover to end",
            "SwitchingToBackup": f"switching to the backup ingest's media (through {self.predecessor}) before "
            f"{self.predecessor} releases",
            "MovingService": f"the Services move from {self.predecessor} to {self.successor}",
            "Releasing": f"{self.predecessor} is releasing its publishers; {self.successor} is on air",
        }[self.step]
        if self.switched and self.step in ("MovingService", "Releasing"):
            doing = f"switched to the backup; {doing}, switched back to its own media once its encoder is back"
        because = f" because {self.part} changed" if self.part else ""
        return f"{self.role} ingest handing over from {self.predecessor} to {self.successor}{because}: {doing}"


@dataclass(frozen=True)
class RoleView:
    """One role as the loop observed it: its serving Pod, the Pod in its other slot, and each one's
    /status handover report (None: not read, or in no handover)."""

    role: Role
    serving: PodObservation | None
    other: PodObservation | None
    serving_report: HandoverReport | None = None
    other_report: HandoverReport | None = None
    serving_air: Role | None = None  # whose media the serving Pod's worker has on air (/status activeIngest)
    other_air: Role | None = None  # ... the other Pod's
    backup_live: bool = False  # (the primary) its backup ingest's own publisher sends: a planned switchover
    with_backup: bool = False  # (the primary) the stream has a backup ingest Pod (live or not)
    other_role_busy: bool = False  # the other role's handover is past its successor's catching up: wait
    # Whether the role's Service's EndpointSlices have a ready endpoint for the serving Pod and for the
    # other one (endpoint_slices.observe_endpoint); None: no Service of the role is observed.
    serving_routed: bool | None = None
    other_routed: bool = False


def handover(
    view: RoleView, stream: str, now: datetime, monotonic: float, in_flight: frozenset[str], memory: HandoverMemory
) -> tuple[list[HandoverAction], HandoverState | None, HandoverMemory]:
    """The step of a role's handover now (the module's docstring), its state for status, the memory."""
    serving, other = view.serving, view.other
    if serving is None or other is None or not other.exists or other.deleting or not serving.exists:
        return [], None, memory
    if other.successor_of and other.successor_of == serving.uid:
        return _successor_step(view, serving, other, stream, now, monotonic, in_flight, memory)
    if serving.successor_of and serving.successor_of == other.uid:
        return _predecessor_step(view, other, serving, stream, now, monotonic, in_flight, memory)
    return [], None, memory  # not part of a handover: the reconcile deletes it


def _successor_step(
    view: RoleView,
    predecessor: PodObservation,
    successor: PodObservation,
    stream: str,
    now: datetime,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], HandoverState | None, HandoverMemory]:
    """The successor is not serving yet: starting, following, or caught up (then it takes the label)."""
    state = HandoverState(view.role, "Starting", predecessor.name, successor.name, successor.handover_for)
    report = view.other_report
    age = (now - successor.created_at).total_seconds() if successor.created_at else 0.0
    why = None
    if successor.phase in ("Failed", "Succeeded"):
        why = f"Pod {successor.name} is {successor.phase}: {successor.detail or 'its worker ended'}"
    elif report is not None and report.phase == "failed":
        why = f"{successor.name} could not follow {predecessor.name}: {report.error or 'no reason given'}"
    elif not successor.ready and age > READY_SECONDS:
        waiting = successor.unschedulable or successor.waiting or successor.detail or "not Ready"
        why = f"{successor.name} was not Ready within {READY_SECONDS:.0f} s ({waiting})"
    elif successor.ready and age > CATCH_UP_SECONDS and (report is None or report.phase in (None, "following")):
        why = f"{successor.name} had not caught up with {predecessor.name} within {CATCH_UP_SECONDS:.0f} s"
    if why is not None:
        return _fail(view.role, predecessor, successor, why, now, memory)
    if not successor.ready:
        return [], state, memory
    state = replace(state, step="Following")
    if report is None or report.phase is None:
        base = predecessor.worker_url("")
        key, slot = f"follow/{successor.uid}", f"handover/{view.role}"
        if base is None or slot in in_flight or not due(memory, key, monotonic):
            return [], state, memory
        follow = HandoverFollow(predecessor_url=base, predecessor_pod=predecessor.name)
        body = json.dumps(follow.wire()).encode()
        request = WorkerRequest(successor, "POST", HANDOVER_FOLLOW_PATH, stream, slot, body)
        return [request], state, sent(memory, [key], monotonic)
    if report.phase == "following":
        return [], state, memory
    # caught-up (or on-air already): the successor takes the Services, its predecessor next tick
    return _caught_up_step(view, predecessor, successor, state, stream, monotonic, in_flight, memory)


def _caught_up_step(
    view: RoleView,
    predecessor: PodObservation,
    successor: PodObservation,
    state: HandoverState,
    stream: str,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], HandoverState | None, HandoverMemory]:
    """The successor has caught up: it waits for the other role's handover, or a switchover puts the
    backup on air first; then it takes the label (the Services have both Pods)."""
    if view.other_role_busy:
        return [], replace(state, step="Waiting"), memory
    actions: list[HandoverAction] = []
    switched = f"switched/{successor.uid}" in memory.done
    if _switching(view) and not switched and f"unswitched/{successor.uid}" not in memory.done:
        since = f"switch-since/{successor.uid}"
        memory = memory if since in memory.sent else sent(memory, [since], monotonic)
        if view.serving_air == "backup":
            switched, memory = True, done(memory, f"switched/{successor.uid}")
        elif monotonic - memory.sent[since] >= SWITCH_SECONDS:
            memory = done(memory, f"unswitched/{successor.uid}")  # the ordinary sequence, without it
        else:
            yields, memory = _yield(view.role, predecessor, stream, monotonic, in_flight, memory)
            return yields, replace(state, step="SwitchingToBackup"), memory
    if switched:  # the lease, until the release ends what the predecessor takes
        actions, memory = _yield(view.role, predecessor, stream, monotonic, in_flight, memory)
    state = replace(state, step="MovingService", switched=switched, why=_unswitched_why(view, switched))
    key = f"serve/{successor.uid}"
    if not due(memory, key, monotonic):
        return actions, state, memory
    # The predecessor first leaves the serving budget for its releasing one: with both Pods serving,
    # the serving budget (minAvailable 1) would let a drain evict one of them.
    actions += [PatchPod(predecessor, hold_patch()), PatchPod(successor, serve_patch())]
    return actions, state, sent(memory, [key], monotonic)


def _unswitched_why(view: RoleView, switched: bool) -> str:
    """Why a primary's Services move without the backup on air (empty for a backup, or switched)."""
    if view.role != "primary" or switched or not view.with_backup:
        return ""
    if not view.backup_live:
        return "no switch to the backup: its own publisher does not send"
    return f"no switch to the backup: its media was not on air within {SWITCH_SECONDS:.0f} s of the first yield"


def _switching(view: RoleView) -> bool:
    """A planned switchover: a primary whose backup ingest's own publisher sends."""
    return view.role == "primary" and view.backup_live


def _yield(
    role: Role,
    predecessor: PodObservation,
    stream: str,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], HandoverMemory]:
    """The predecessor's yield to its backup (a lease: renewed every RESEND_SECONDS)."""
    key, slot = f"yield/{predecessor.uid}", f"yield/{role}"
    if slot in in_flight or not due(memory, key, monotonic):
        return [], memory
    request = WorkerRequest(predecessor, "POST", HANDOVER_YIELD_PATH, stream, slot)
    return [request], sent(memory, [key], monotonic)


def busy(view: RoleView, memory: HandoverMemory) -> bool:
    """The role's handover is past its successor's catching up (switching to the backup, the Services
    moving, the predecessor releasing): the other role's waits before it does the same."""
    serving, other = view.serving, view.other
    if serving is None or other is None or not other.exists or not serving.exists:
        return False
    if serving.successor_of and serving.successor_of == other.uid:
        return True  # the successor serves
    if not (other.successor_of and other.successor_of == serving.uid):
        return False
    return f"serve/{other.uid}" in memory.sent or f"switch-since/{other.uid}" in memory.sent


def _predecessor_step(
    view: RoleView,
    predecessor: PodObservation,
    successor: PodObservation,
    stream: str,
    now: datetime,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], HandoverState | None, HandoverMemory]:
    """The successor serves: the predecessor leaves the Services, releases, and goes."""
    switched = f"switched/{successor.uid}" in memory.done or (_switching(view) and view.other_air == "backup")
    state = HandoverState(
        view.role, "MovingService", predecessor.name, successor.name, successor.handover_for, switched
    )
    actions: list[HandoverAction] = []
    report = view.other_report
    if switched and (report is None or report.release is None):
        actions, memory = _yield(view.role, predecessor, stream, monotonic, in_flight, memory)
    if predecessor.handed_over_at is None:
        key = f"unserve/{predecessor.uid}"
        if due(memory, key, monotonic):
            actions.append(PatchPod(predecessor, release_patch(now)))
            return actions, state, sent(memory, [key], monotonic)
        return actions, state, memory
    slot, key = f"handover/{view.role}", f"release/{predecessor.uid}"
    asked = report is not None and report.release is not None  # releasing, or released
    if asked or key in memory.sent:
        state = replace(state, step="Releasing")
    released = report is not None and report.release == "released"
    on_air = view.serving_report is not None and view.serving_report.phase == "on-air"
    # A switchover ends once the successor's own media is back on air (switched back).
    back = not _switching(view) or view.serving_air == "primary"
    waited = (now - predecessor.handed_over_at).total_seconds()
    if (released and on_air and back) or waited >= RELEASE_SECONDS:
        return _finish(view.role, predecessor, successor, released and on_air, (switched, back), memory)
    if asked:
        return actions, state, memory
    routed, memory = _routed_to_successor(view, predecessor, now, monotonic, memory)
    if routed and slot not in in_flight and due(memory, key, monotonic):
        actions.append(WorkerRequest(predecessor, "POST", HANDOVER_RELEASE_PATH, stream, slot))
        return actions, replace(state, step="Releasing"), sent(memory, [key], monotonic)
    return actions, state, memory


def _routed_to_successor(
    view: RoleView, predecessor: PodObservation, now: datetime, monotonic: float, memory: HandoverMemory
) -> tuple[bool, HandoverMemory]:
    """Whether the predecessor may release (ROUTE_SYNC_SECONDS): the role's Service routes to the
    successor alone, as its EndpointSlices say, since ROUTE_SYNC_SECONDS (each node's kube-proxy has
    applied them by then), or ROUTE_WAIT_SECONDS passed since the label moved. At once when no
    Service of the role is observed (nothing routes publishers)."""
    if view.serving_routed is None:
        return True, memory
    key = f"routed/{predecessor.uid}"
    if view.serving_routed and not view.other_routed:
        if key not in memory.sent:  # (sent() would move the time on)
            memory = sent(memory, [key], monotonic)
        if monotonic - memory.sent[key] >= ROUTE_SYNC_SECONDS:
            return True, memory
    assert predecessor.handed_over_at is not None
    return (now - predecessor.handed_over_at).total_seconds() >= ROUTE_WAIT_SECONDS, memory


def _finish(
    role: Role,
    predecessor: PodObservation,
    successor: PodObservation,
    released: bool,
    switchover: tuple[bool, bool],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], HandoverState | None, HandoverMemory]:
    """`switchover`: (switched to the backup before the release, switched back to the successor's own
    media since)."""
    key = f"done/{predecessor.uid}"
    if key in memory.done:
        return [], None, memory
    because = f" because {successor.handover_for} changed" if successor.handover_for else ""
    after = "" if released else f" ({predecessor.name} did not say it released within {RELEASE_SECONDS:.0f} s)"
    switched, back = switchover
    if switched and back:
        after += f": switched to the backup, then switched back to {successor.name}'s own media"
    elif switched:
        after += f": switched to the backup, which stays on air until {successor.name}'s own encoder is back"
    message = f"{role} ingest handed over from {predecessor.name} to {successor.name}{because}{after}"
    return [DeletePod(predecessor), PostEvent("Normal", HANDED_OVER, message)], None, done(memory, key)


def _fail(
    role: Role, predecessor: PodObservation, successor: PodObservation, why: str, now: datetime, memory: HandoverMemory
) -> tuple[list[HandoverAction], HandoverState | None, HandoverMemory]:
    key = f"failed/{successor.uid}"
    if key in memory.done:
        return [], None, memory
    failure = next_failure(predecessor, why, now)
    wait = (failure.retry_at - failure.at).total_seconds()
    message = f"{role} ingest handover from {predecessor.name} to {successor.name} failed: {why}; "
    message += f"{predecessor.name} keeps running, tried again in {wait:.0f} s"
    # The record first: the successor's DELETED event brings a reconcile, which must see it (one
    # watch, in order) and not make the next successor at once.
    actions: list[HandoverAction] = [
        PatchPod(predecessor, failure_patch(failure)),
        DeletePod(successor),
        PostEvent("Warning", HANDOVER_FAILED, message),
    ]
    return actions, None, done(memory, key)


def failed_handover(serving: PodObservation | None) -> HandoverFailure | None:
    """The serving Pod's last failed handover, as recorded on it."""
    return HandoverFailure.parse(serving.handover_failed) if serving is not None else None


@dataclass(frozen=True)
class Worker:
    """What a role's worker reports that a handover reads (its /status): its handover part, whose
    media it has on air, its own publisher's."""

    report: HandoverReport | None = None
    air: Role | None = None
    live: bool = False


def handovers(
    pods: Mapping[Role, PodObservation],
    others: Mapping[Role, PodObservation],
    serving: Mapping[Role, Worker],
    other: Mapping[Role, Worker],
    stream: str,
    now: datetime,
    monotonic: float,
    in_flight: frozenset[str],
    memory: HandoverMemory,
    routes: Mapping[Role, tuple[bool, bool]] | None = None,
) -> tuple[list[HandoverAction], dict[Role, HandoverState], HandoverMemory]:
    """Each role with a Pod in its other slot: its step, its state. The primary's first: of two roles
    whose successors caught up at once, it goes first (a planned switchover needs its backup live).
    `routes`: whether each role's Service routes to its serving Pod and to the other one (its
    EndpointSlices; a role without an observed Service is left out)."""
    routes = routes or {}
    actions: list[HandoverAction] = []
    states: dict[Role, HandoverState] = {}
    views: dict[Role, RoleView] = {}
    for role in sorted(others, key=lambda r: r != "primary"):
        mine, theirs = serving.get(role, Worker()), other.get(role, Worker())
        backup = serving.get("backup", Worker())
        views[role] = RoleView(
            role,
            pods.get(role),
            others[role],
            mine.report,
            theirs.report,
            mine.air,
            theirs.air,
            backup_live=role == "primary" and backup.live,
            with_backup=role == "primary" and "backup" in pods,
            serving_routed=routes[role][0] if role in routes else None,
            other_routed=routes[role][1] if role in routes else False,
        )
    for role, view in views.items():
        peer = views.get("backup" if role == "primary" else "primary")
        view = replace(view, other_role_busy=peer is not None and busy(peer, memory))
        done, state, memory = handover(view, stream, now, monotonic, in_flight, memory)
        actions += done
        if state is not None:
            states[role] = state
    for role, state in states.items():
        if state.step == "Waiting":  # (the other role's step is known once both were stepped)
            waited_for: Role = "backup" if role == "primary" else "primary"
            found = states.get(waited_for)
            at = f"at {found.step}" if found is not None else "ending"
            states[role] = replace(state, why=f"the {waited_for} ingest's handover is {at}")
    return actions, states, memory
