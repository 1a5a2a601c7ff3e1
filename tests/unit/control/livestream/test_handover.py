"""A live ingest's handover step (control/livestream/handover.py), pure: a row is a role's two Pods
and their workers' reports, and the actions and state expected. The actuator: handover_writes.py;
the whole sequence against an API server: tests/cluster/test_handover.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH, HandoverReport
from streamops.control.livestream.handover import (
    CATCH_UP_SECONDS,
    HANDED_OVER,
    HANDOVER_FAILED,
    READY_SECONDS,
    RELEASE_SECONDS,
    DeletePod,
    HandoverMemory,
    PatchPod,
    RoleView,
    handover,
    handovers,
)
from streamops.control.runtime.decisions import PostEvent, WorkerRequest
from streamops.control.workers.handover_marks import (
    HANDED_OVER_AT_ANNOTATION,
    HANDOVER_FAILED_ANNOTATION,
    RELEASING_LABEL,
    SERVING_LABEL,
    HandoverFailure,
)
from streamops.control.workers.pod_observation import PodObservation

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
OLD = PodObservation(
    "cam-ingest", exists=True, uid="a1", phase="Running", ready=True, ip="10.0.0.5", http_port=8081, serving=True
)
NEW = PodObservation(
    "cam-ingest-b",
    exists=True,
    uid="b1",
    phase="Running",
    ready=True,
    ip="10.0.0.6",
    http_port=8081,
    successor_of="a1",
    handover_for="containers[ingest].image",
    created_at=NOW - timedelta(seconds=10),
)
STARTING = replace(NEW, phase="Pending", ready=False, ip=None)
SERVING_NEW = replace(NEW, serving=True)
HANDED = replace(OLD, serving=False, handed_over_at=NOW - timedelta(seconds=2))
NO_MEMORY = HandoverMemory()


def step(
    serving: PodObservation | None,
    other: PodObservation | None,
    serving_report: HandoverReport | None = None,
    other_report: HandoverReport | None = None,
    memory: HandoverMemory = NO_MEMORY,
    in_flight: frozenset[str] = frozenset(),
    now: datetime = NOW,
) -> tuple[list[object], str | None, HandoverMemory]:
    view = RoleView("primary", serving, other, serving_report, other_report)
    actions, state, kept = handover(view, "cam", now, 100.0, in_flight, memory)
    return list(actions), (state.step if state else None), kept


def follow_body(request: WorkerRequest) -> dict[str, str]:
    return dict(json.loads(request.body))


def test_nothing_happens_without_a_pod_in_the_other_slot() -> None:
    assert step(OLD, None)[:2] == ([], None)
    # a Pod there that is nobody's successor (left from an older spec): the reconcile deletes it
    assert step(OLD, replace(NEW, successor_of="someone-else"))[:2] == ([], None)
    assert step(OLD, replace(NEW, deleting=True))[:2] == ([], None)


def test_a_starting_successor_is_waited_for() -> None:
    assert step(OLD, STARTING)[:2] == ([], "Starting")


def test_a_ready_successor_is_asked_to_follow_its_predecessor_once() -> None:
    actions, state, memory = step(OLD, NEW)
    [request] = actions
    assert isinstance(request, WorkerRequest)
    assert (request.pod, request.method, request.path, request.slot) == (
        NEW,
        "POST",
        HANDOVER_FOLLOW_PATH,
        "handover/primary",
    )
    assert follow_body(request) == {"predecessorUrl": "http://10.0.0.5:8081", "predecessorPod": "cam-ingest"}
    assert state == "Following"
    # Sent: not again before its effect can show (nor while in flight).
    assert step(OLD, NEW, memory=memory)[0] == []
    assert step(OLD, NEW, in_flight=frozenset({"handover/primary"}))[0] == []


@pytest.mark.parametrize(
    ("report", "actions", "state"),
    [
        (HandoverReport(predecessor_pod="cam-ingest", phase="following"), [], "Following"),
        (
            HandoverReport(predecessor_pod="cam-ingest", phase="caught-up"),
            [  # the predecessor leaves the serving budget first (a drain could take one of two serving)
                PatchPod(OLD, {"metadata": {"labels": {RELEASING_LABEL: "true"}}}),
                PatchPod(NEW, {"metadata": {"labels": {SERVING_LABEL: "true"}}}),
            ],
            "MovingService",
        ),
    ],
)
def test_a_caught_up_successor_takes_the_serving_label(
    report: HandoverReport, actions: list[object], state: str
) -> None:
    assert step(OLD, NEW, other_report=report)[:2] == (actions, state)


def test_then_the_predecessor_leaves_the_services_and_is_asked_to_release() -> None:
    # Both labelled: the successor serves (handover_marks.serving_index), the predecessor is `other`.
    actions, state, _ = step(SERVING_NEW, OLD)
    patch, release = actions
    assert isinstance(patch, PatchPod) and patch.pod == OLD
    assert patch.patch["metadata"]["labels"] == {SERVING_LABEL: None, RELEASING_LABEL: "true"}
    assert patch.patch["metadata"]["annotations"] == {HANDED_OVER_AT_ANNOTATION: "2026-11-29T18:00:00Z"}
    assert isinstance(release, WorkerRequest) and (release.pod, release.path) == (OLD, HANDOVER_RELEASE_PATH)
    assert state == "MovingService"


def test_a_released_predecessor_is_deleted_once_the_successor_is_on_air() -> None:
    releasing = HandoverReport(release="releasing")
    assert step(SERVING_NEW, HANDED, other_report=releasing)[:2] == ([], "Releasing")
    on_air, released = HandoverReport(phase="on-air"), HandoverReport(release="released")
    actions, state, memory = step(SERVING_NEW, HANDED, on_air, released)
    assert actions == [
        DeletePod(HANDED),
        PostEvent(
            "Normal",
            HANDED_OVER,
            "primary ingest handed over from cam-ingest to cam-ingest-b because containers[ingest].image changed",
        ),
    ]
    assert state is None
    assert step(SERVING_NEW, HANDED, on_air, released, memory=memory)[0] == [], "once"


def test_a_predecessor_that_never_says_released_goes_after_the_bound() -> None:
    late = replace(HANDED, handed_over_at=NOW - timedelta(seconds=RELEASE_SECONDS))
    actions, _, _ = step(SERVING_NEW, late, HandoverReport(phase="on-air"), HandoverReport(release="releasing"))
    assert actions[0] == DeletePod(late)
    assert isinstance(actions[1], PostEvent) and "did not say it released within 30 s" in actions[1].message


def test_a_predecessor_not_yet_releasing_is_asked_again() -> None:
    actions, state, _ = step(SERVING_NEW, HANDED, other_report=None)
    assert [type(a) for a in actions] == [WorkerRequest] and state == "Releasing"


@pytest.mark.parametrize(
    ("successor", "report", "why"),
    [
        (
            replace(STARTING, created_at=NOW - timedelta(seconds=READY_SECONDS + 1), unschedulable="0/2 nodes"),
            None,
            "cam-ingest-b was not Ready within 60 s (0/2 nodes)",
        ),
        (
            replace(NEW, created_at=NOW - timedelta(seconds=CATCH_UP_SECONDS + 1)),
            HandoverReport(phase="following"),
            "cam-ingest-b had not caught up with cam-ingest within 120 s",
        ),
        (NEW, HandoverReport(phase="failed", error="predecessor unreachable"), "predecessor unreachable"),
        (replace(NEW, phase="Failed", detail="OOMKilled"), None, "Pod cam-ingest-b is Failed: OOMKilled"),
    ],
)
def test_a_failed_successor_is_deleted_and_the_predecessor_keeps_running(
    successor: PodObservation, report: HandoverReport | None, why: str
) -> None:
    actions, state, memory = step(OLD, successor, other_report=report)
    record, delete, event = actions
    assert isinstance(record, PatchPod) and record.pod == OLD
    failure = HandoverFailure.parse(record.patch["metadata"]["annotations"][HANDOVER_FAILED_ANNOTATION])
    assert failure is not None and failure.count == 1 and why in failure.why
    assert delete == DeletePod(successor)
    assert isinstance(event, PostEvent) and (event.type, event.reason) == ("Warning", HANDOVER_FAILED)
    assert why in event.message and "cam-ingest keeps running, tried again in 30 s" in event.message
    assert state is None
    assert step(OLD, successor, other_report=report, memory=memory)[0] == [], "once"


def test_failures_in_a_row_back_off() -> None:
    before = HandoverFailure(NOW - timedelta(minutes=5), 2, "not Ready")
    old = replace(OLD, handover_failed=before.record())
    actions, _, _ = step(old, NEW, other_report=HandoverReport(phase="failed", error="x"))
    record = actions[0]
    assert isinstance(record, PatchPod)
    failure = HandoverFailure.parse(record.patch["metadata"]["annotations"][HANDOVER_FAILED_ANNOTATION])
    assert failure is not None and failure.count == 3
    assert (failure.retry_at - failure.at).total_seconds() == 120


def test_each_role_is_stepped_on_its_own() -> None:
    backup_old = replace(OLD, name="cam-ingest-backup", uid="c1")
    backup_new = replace(NEW, name="cam-ingest-backup-b", uid="d1", successor_of="c1")
    actions, states, _ = handovers(
        {"primary": OLD, "backup": backup_old},
        {"backup": backup_new},
        {},
        {"backup": HandoverReport(phase="caught-up")},
        "cam",
        NOW,
        100.0,
        frozenset(),
        NO_MEMORY,
    )
    assert [a.pod.name for a in actions if isinstance(a, PatchPod)] == ["cam-ingest-backup", "cam-ingest-backup-b"]
    assert list(states) == ["backup"]
    assert states["backup"].message == (
        "backup ingest handing over from cam-ingest-backup to cam-ingest-backup-b because containers[ingest].image "
        "changed: the Services move from cam-ingest-backup to cam-ingest-backup-b"
    )
