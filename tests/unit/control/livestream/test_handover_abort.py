"""A handover whose reason goes away mid-way, or whose successor is lost (control/livestream/
handover_abort.py), pure: a row is a role's two Pods, the predecessor's report, the reconcile's
cancel and what the loop sent, and the actions expected. The whole sequence against an API server:
tests/cluster/test_handover.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
from streamops.contract.ingest import HandoverReport
from streamops.control.livestream.handover import RoleView, handover
from streamops.control.livestream.handover_abort import (
    HANDOVER_CANCELLED,
    HANDOVER_CUT,
    HandoverCancel,
    aborts,
)
from streamops.control.runtime.decisions import PostEvent
from streamops.control.runtime.handover_steps import DeletePod, HandoverMemory
from streamops.control.workers.pod_observation import PodObservation

from tests.unit.control.livestream.test_handover import HANDED, NEW, NO_MEMORY, NOW, OLD, SERVING_NEW, STARTING

UNCORDONED = HandoverCancel("b1", "node node-2 is no longer cordoned")
CANCELLED = PostEvent(
    "Normal",
    HANDOVER_CANCELLED,
    "primary ingest handover from cam-ingest to cam-ingest-b cancelled, no longer needed: node node-2 is no longer "
    "cordoned; cam-ingest keeps serving",
)


def abort(
    serving: PodObservation | None,
    other: PodObservation | None,
    report: HandoverReport | None = None,
    cancel: HandoverCancel | None = UNCORDONED,
    memory: HandoverMemory = NO_MEMORY,
) -> tuple[list[object], bool, HandoverMemory]:
    pods = {"primary": serving} if serving is not None else {}
    others = {"primary": other} if other is not None else {}
    cancels = {"primary": cancel} if cancel is not None else {}
    actions, taken, kept = aborts(pods, others, {"primary": report}, cancels, memory)
    return list(actions), "primary" in taken, kept


@pytest.mark.parametrize(
    "successor",
    [STARTING, NEW],  # Starting; Ready (following, or caught up with the label not sent yet)
)
def test_before_the_point_of_no_return_a_cancel_deletes_the_successor_only(successor: PodObservation) -> None:
    actions, taken, memory = abort(OLD, successor)
    assert actions == [DeletePod(successor), CANCELLED], "the predecessor is neither released nor relabelled"
    assert taken, "its handover is not stepped this tick"
    assert abort(OLD, successor, memory=memory)[:2] == ([], True), "once"


def test_a_cancel_naming_another_successor_or_none_is_nothing() -> None:
    assert abort(OLD, NEW, cancel=HandoverCancel("zz", "node node-2 is no longer cordoned"))[:2] == ([], False)
    assert abort(OLD, NEW, cancel=None)[:2] == ([], False)
    assert abort(OLD, replace(NEW, deleting=True))[:2] == ([], False)


@pytest.mark.parametrize(
    ("serving", "other", "report", "memory"),
    [
        # the serving label sent (the watch does not show it yet)
        (OLD, NEW, None, HandoverMemory(sent={"serve/b1": 99.0})),
        # the successor serves (both labelled, or the predecessor unlabelled already)
        (SERVING_NEW, OLD, None, NO_MEMORY),
        (SERVING_NEW, HANDED, None, NO_MEMORY),
        # the predecessor asked to release (its report says so) or handed over
        (OLD, NEW, HandoverReport(release="releasing"), NO_MEMORY),
        (replace(HANDED, serving=True), NEW, None, NO_MEMORY),
    ],
)
def test_past_the_point_of_no_return_a_cancel_is_nothing_and_the_handover_completes(
    serving: PodObservation, other: PodObservation, report: HandoverReport | None, memory: HandoverMemory
) -> None:
    assert abort(serving, other, report, memory=memory)[:2] == ([], False)


def test_the_steps_go_on_past_it() -> None:
    # (handover.py, as without a cancel: the predecessor released, then deleted)
    view = RoleView("primary", SERVING_NEW, HANDED, HandoverReport(phase="on-air"), HandoverReport(release="released"))
    actions, _, _ = handover(view, "cam", NOW, 100.0, frozenset(), NO_MEMORY)
    assert actions[0] == DeletePod(HANDED)


@pytest.mark.parametrize(
    ("serving", "other", "report"),
    [
        (HANDED, None, None),  # the successor's Pod gone (a user deleted it, its node lost)
        (HANDED, replace(SERVING_NEW, deleting=True), None),  # ... going
        (replace(HANDED, uid="a1"), replace(NEW, successor_of="zz"), None),  # a Pod there that is not its successor
        # released, unlabelled, the handed-over-at patch lost
        (replace(OLD, serving=False), None, HandoverReport(release="released")),
    ],
)
def test_a_released_predecessor_without_its_successor_is_deleted_at_once(
    serving: PodObservation, other: PodObservation | None, report: HandoverReport | None
) -> None:
    """Never a dead stream: it takes no media any more; the reconcile makes a fresh ingest (a cut)."""
    actions, taken, memory = abort(serving, other, report, cancel=None)
    delete, event = actions
    assert delete == DeletePod(serving) and taken
    assert isinstance(event, PostEvent) and (event.type, event.reason) == ("Warning", HANDOVER_CUT)
    assert event.message.startswith("primary ingest cam-ingest had released its publishers but its successor")
    assert "a fresh ingest is made" in event.message
    assert abort(serving, other, report, cancel=None, memory=memory)[0] == [], "once"


def test_a_pod_in_a_live_handover_is_never_cut() -> None:
    # (a release report on a serving successor, or on a predecessor whose successor lives)
    released = HandoverReport(release="released")
    assert abort(SERVING_NEW, None, released, cancel=None)[:2] == ([], False)
    assert abort(SERVING_NEW, HANDED, released, cancel=None)[:2] == ([], False)
    assert abort(OLD, None, None, cancel=None)[:2] == ([], False)
