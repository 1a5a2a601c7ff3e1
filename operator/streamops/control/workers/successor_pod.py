"""The successor Pod a worker's handover starts with (docs/design/handover.md, Parts 2 and 5): pure.
A worker runs in one of two slots (two Pod names); its successor is the desired Pod under the other
slot's name, annotated successor-of the running Pod's uid and with the part whose change asked for
it. The ingest, the recorder and the pusher name and annotate it alike; after a failed handover the
next one waits (handover_marks.HandoverFailure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from streamops.control.workers.drain import NODE_PART
from streamops.control.workers.handover_marks import (
    HANDOVER_FOR_ANNOTATION,
    SUCCESSOR_OF_ANNOTATION,
    handover_failure,
    handover_for,
    successor_of,
)
from streamops.control.workers.restarts import PodChange, pod_difference
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Successor:
    """A worker's other slot while it is to be handed over, or after: the successor to create, a
    stale Pod there to delete, and the change as status tells it (a handover held after a failed one
    carries when it is tried again)."""

    change: PodChange
    create: Manifest | None = None
    delete: Manifest | None = None


def other_slot(current: Manifest, slots: tuple[str, str]) -> str:
    """The name of the slot `current` does not run in."""
    return slots[1] if current["metadata"]["name"] == slots[0] else slots[0]


def successor_annotations(current: Manifest, change: PodChange) -> dict[str, str]:
    """What makes a Pod `current`'s successor: its uid, and the part whose change asked for it."""
    return {
        SUCCESSOR_OF_ANNOTATION: current["metadata"].get("uid") or "",
        HANDOVER_FOR_ANNOTATION: change.part or "",
    }


def held(current: Manifest, change: PodChange, now: datetime) -> PodChange | None:
    """The change held until the retry time of `current`'s last failed handover, if not past."""
    failure = handover_failure(current)
    if failure is not None and now < failure.retry_at:
        return replace(change, retry_at=failure.retry_at)
    return None


def in_place_of(desired: Manifest, current: Manifest | None) -> Manifest:
    """The desired Pod under the running one's name (a copy): after a handover the worker runs in
    its second slot, and its restart rules (children.roll_pod) act on that Pod."""
    if current is None or current["metadata"]["name"] == desired["metadata"]["name"]:
        return desired
    return {**desired, "metadata": {**desired["metadata"], "name": current["metadata"]["name"]}}


def plan_successor(
    desired: Manifest | None,
    current: Manifest | None,
    other: Manifest | None,
    change: PodChange,
    slots: tuple[str, str],
    now: datetime,
    for_other: Manifest | None = None,
) -> Successor:
    """Pure, for a worker whose successor the status loop hands over (the recorder, the pusher).
    `current`: the worker (the predecessor of a handover); `other`: the Pod in its other slot;
    `change`: what roll_pod decided for `current`; `for_other`: the desired Pod with the other slot's
    host ports (on the host network; else `desired`). A successor under way for the wanted spec is
    left to the status loop (the kind's handover.py); any other Pod there goes (a successor of an
    older spec, one left when no handover is wanted any more, but not one moving the worker off a node
    that is no longer cordoned: `_moving`); after a failed handover the next waits."""
    leaving = other is None or bool(((other or {}).get("metadata") or {}).get("deletionTimestamp"))
    if change.action != "handover" or desired is None or current is None:
        moving = change.action == "keep" and _moving(current, for_other or desired, other)
        return Successor(change, delete=None if leaving or moving else other)
    wanted = for_other if for_other is not None else desired
    if other is not None:
        under_way = successor_of(other) == current["metadata"].get("uid") and pod_difference(wanted, other) is None
        return Successor(change, delete=None if leaving or under_way else other)
    waiting = held(current, change, now)
    if waiting is not None:
        return Successor(waiting)
    annotations = dict(wanted["metadata"].get("annotations") or {}) | successor_annotations(current, change)
    meta = {**wanted["metadata"], "name": other_slot(current, slots), "annotations": annotations}
    return Successor(change, create={**wanted, "metadata": meta})


def _moving(current: Manifest | None, wanted: Manifest | None, other: Manifest | None) -> bool:
    """`other` is `current`'s successor made to leave a cordoned node (drain.NODE_PART) for the spec
    wanted: it completes though the node was uncordoned since. Its status loop may be past the
    point of no return (a pusher's targets let go, a recorder's video released), where a cancel
    would cost a second reconnect or a gap; a completed one costs a move to another node."""
    if current is None or other is None or wanted is None:
        return False
    mine = successor_of(other) == current["metadata"].get("uid")
    return mine and handover_for(other) == NODE_PART and pod_difference(wanted, other) is None
