"""A handover whose reason goes away mid-way, or whose successor is lost (issue 56;
docs/design/handover.md Part 2, "Bounds and failure"): pure, decided each tick by the status loop
before the handover's steps (handover.py), from the same observation.

Once a successor exists the status loop alone decides both Pods' fate: the reconcile reads the role
from the pod index, which can be older than the loop's own label patches (ci31: it deleted the
successor while the loop released the predecessor, a dead stream), so it never deletes either; it
names a successor no longer wanted (`HandoverCancel`: the difference gone, a node uncordoned, the
restart policy changed, a successor of an older spec). The point of no return is the serving label
sent to the successor (in the memory before the watch shows it), or the predecessor handed over
(handed-over-at) or asked to release (its report says so):

- before it, the named successor is deleted and its predecessor serves on, never released: a Normal
  Event HandoverCancelled says why;
- from it, a cancel is nothing: the handover completes (handover.py);
- a predecessor that released while its successor is gone (its Pod lost, deleted by someone) takes
  no media any more: it is deleted at once, so the reconcile makes a fresh ingest (a cut until its
  publishers reconnect, never a dead stream), and a Warning Event HandoverCut says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from streamops.contract.ingest import HandoverReport, Role
from streamops.control.runtime.decisions import PostEvent
from streamops.control.runtime.handover_steps import HANDOVER_CANCELLED, DeletePod, HandoverAction, HandoverMemory
from streamops.control.workers.pod_observation import PodObservation

HANDOVER_CUT = "HandoverCut"  # the Event's reason (HANDOVER_CANCELLED: handover_steps, shared with recorders)


@dataclass(frozen=True)
class HandoverCancel:
    """The reconcile's finding that the successor of this uid is no longer wanted, and why (plan.py's
    plan_successor); acted on only before the point of no return."""

    successor: str
    why: str


def past_no_return(
    predecessor: PodObservation, successor: PodObservation, report: HandoverReport | None, memory: HandoverMemory
) -> bool:
    """The successor labelled serving (or the label sent: handover.py's `serve/` key), or the
    predecessor handed over or asked to release (`report`: its own): from here it only completes."""
    handed = predecessor.handed_over_at is not None or bool(report and report.release)
    return f"serve/{successor.uid}" in memory.sent or successor.serving or handed


def released_alone(serving: PodObservation | None, other: PodObservation | None, report: HandoverReport | None) -> bool:
    """The serving Pod handed over (or, unlabelled, releasing: the handed-over-at patch lost) and in
    no handover with a live Pod in the other slot."""
    if serving is None or not serving.exists or serving.deleting:
        return False
    releasing = report is not None and report.release is not None and not serving.serving
    if serving.handed_over_at is None and not releasing:
        return False
    if other is None or not other.exists or other.deleting:
        return True
    return other.successor_of != serving.uid and serving.successor_of != other.uid


def aborts(
    pods: Mapping[Role, PodObservation],
    others: Mapping[Role, PodObservation],
    serving_reports: Mapping[Role, HandoverReport | None],
    cancels: Mapping[Role, HandoverCancel],
    memory: HandoverMemory,
) -> tuple[list[HandoverAction], set[Role], HandoverMemory]:
    """Each role's cancel or cut now (the module's docstring), the roles it took (their handover is
    not stepped this tick), the memory (each one once)."""
    actions: list[HandoverAction] = []
    taken: set[Role] = set()
    for role in dict.fromkeys([*pods, *others]):
        serving, other, report = pods.get(role), others.get(role), serving_reports.get(role)
        done = _cut(role, serving, other, report, memory) or _cancel(role, serving, other, report, cancels, memory)
        if done is not None:
            key, found = done
            taken.add(role)
            if key not in memory.done:
                actions += found
                memory = replace(memory, done=(*memory.done[-7:], key))
    return actions, taken, memory


def _cut(
    role: Role,
    serving: PodObservation | None,
    other: PodObservation | None,
    report: HandoverReport | None,
    memory: HandoverMemory,
) -> tuple[str, list[HandoverAction]] | None:
    if serving is None or not released_alone(serving, other, report):
        return None
    successor = f"its successor {other.name}" if other is not None else "its successor"
    message = (
        f"{role} ingest {serving.name} had released its publishers but {successor} is gone: "
        f"{serving.name} is deleted and a fresh ingest is made (the stream is cut until its publishers reconnect)"
    )
    return f"cut/{serving.uid}", [DeletePod(serving), PostEvent("Warning", HANDOVER_CUT, message)]


def _cancel(
    role: Role,
    serving: PodObservation | None,
    other: PodObservation | None,
    report: HandoverReport | None,
    cancels: Mapping[Role, HandoverCancel],
    memory: HandoverMemory,
) -> tuple[str, list[HandoverAction]] | None:
    cancel = cancels.get(role)
    if cancel is None or serving is None or other is None or other.uid != cancel.successor:
        return None
    if not serving.exists or other.deleting or other.successor_of != serving.uid:
        return None  # (a successor the index shows serving is `serving` here: past the point)
    if past_no_return(serving, other, report, memory):
        return None
    message = f"{role} ingest handover from {serving.name} to {other.name} cancelled, no longer needed: "
    message += f"{cancel.why}; {serving.name} keeps serving"
    return f"cancel/{other.uid}", [DeletePod(other), PostEvent("Normal", HANDOVER_CANCELLED, message)]
