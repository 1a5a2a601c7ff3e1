"""A live ingest's handover step (control/livestream/handover.py), pure: a row is a role's two Pods
and their workers' reports, and the actions and state expected. The actuator: handover_writes.py;
the whole sequence against an API server: tests/cluster/test_handover.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from streamops.contract.ingest import (
    HANDOVER_FOLLOW_PATH,
    HANDOVER_RELEASE_PATH,
    HANDOVER_YIELD_PATH,
    HandoverReport,
    Role,
)
from streamops.control.livestream.decide import LiveStreamMemory, handover_decisions
from streamops.control.livestream.handover import (
    CATCH_UP_SECONDS,
    RELEASE_SECONDS,
    ROUTE_SYNC_SECONDS,
    ROUTE_WAIT_SECONDS,
    SWITCH_SECONDS,
    HandoverState,
    RoleView,
    Worker,
    handover,
    handovers,
)
from streamops.control.runtime.decisions import PostEvent, Say, WorkerRequest
from streamops.control.runtime.handover_steps import (
    HANDED_OVER,
    HANDOVER_FAILED,
    READY_SECONDS,
    DeletePod,
    HandoverAction,
    HandoverMemory,
    PatchPod,
)
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
    [patch] = actions
    assert isinstance(patch, PatchPod) and patch.pod == OLD
    assert patch.patch["metadata"]["labels"] == {SERVING_LABEL: None, RELEASING_LABEL: "true"}
    assert patch.patch["metadata"]["annotations"] == {HANDED_OVER_AT_ANNOTATION: "2026-11-29T18:00:00Z"}
    assert state == "MovingService"
    # Once the patch shows (no Service of the role observed: nothing to wait for), the release.
    [release], state, _ = step(SERVING_NEW, HANDED)
    assert isinstance(release, WorkerRequest) and (release.pod, release.path) == (HANDED, HANDOVER_RELEASE_PATH)
    assert state == "Releasing"


def routed_step(
    serving_routed: bool, other_routed: bool, monotonic: float, memory: HandoverMemory, waited: float = 1.0
) -> tuple[list[object], str | None, HandoverMemory]:
    predecessor = replace(HANDED, handed_over_at=NOW - timedelta(seconds=waited))
    view = RoleView("primary", SERVING_NEW, predecessor, serving_routed=serving_routed, other_routed=other_routed)
    actions, state, kept = handover(view, "cam", NOW, monotonic, frozenset(), memory)
    return list(actions), (state.step if state else None), kept


def test_the_release_waits_until_the_service_routes_to_the_successor_alone_on_every_node() -> None:
    """The release cuts the encoder, which reconnects within a second through the Service: while a
    node's kube-proxy still routes to the predecessor, the reconnect reaches it and is refused (issue
    56's multinode runs: 2 of 3 handovers, the encoder's next try after its backoff, a 2.6 s stall)."""
    # The slices still list the predecessor (or not the successor yet): the Services are moving.
    assert routed_step(True, True, 100.0, NO_MEMORY)[:2] == ([], "MovingService")
    assert routed_step(False, False, 100.0, NO_MEMORY)[:2] == ([], "MovingService")
    # The successor alone: each node's kube-proxy applies it within its sync period, then the release.
    actions, state, memory = routed_step(True, False, 100.0, NO_MEMORY)
    assert (actions, state) == ([], "MovingService")
    actions, state, memory = routed_step(True, False, 100.0 + ROUTE_SYNC_SECONDS - 0.1, memory)
    assert (actions, state) == ([], "MovingService"), "the first sight is the one that counts"
    [release], state, _ = routed_step(True, False, 100.0 + ROUTE_SYNC_SECONDS, memory)
    assert isinstance(release, WorkerRequest) and release.path == HANDOVER_RELEASE_PATH and state == "Releasing"
    # Slices that never say so (a watch behind): released after the bound from handed-over-at.
    [release], state, _ = routed_step(True, True, 100.0, NO_MEMORY, waited=ROUTE_WAIT_SECONDS)
    assert isinstance(release, WorkerRequest) and state == "Releasing"
    # Asked already (releasing): not again, and the deletion's bound still counts.
    releasing = HandoverReport(release="releasing")
    view = RoleView("primary", SERVING_NEW, HANDED, None, releasing, serving_routed=True, other_routed=True)
    assert handover(view, "cam", NOW, 100.0, frozenset(), NO_MEMORY)[0] == []


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
        {"backup": Worker(HandoverReport(phase="caught-up"))},
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


# --- a planned switchover: a primary whose backup is live ------------------------------------------

CAUGHT_UP = HandoverReport(predecessor_pod="cam-ingest", phase="caught-up")
LABEL_MOVES = [
    PatchPod(OLD, {"metadata": {"labels": {RELEASING_LABEL: "true"}}}),
    PatchPod(NEW, {"metadata": {"labels": {SERVING_LABEL: "true"}}}),
]


def switch(
    serving: PodObservation,
    other: PodObservation,
    serving_air: Role | None,
    other_air: Role | None = None,
    serving_report: HandoverReport | None = None,
    other_report: HandoverReport | None = CAUGHT_UP,
    memory: HandoverMemory = NO_MEMORY,
    monotonic: float = 100.0,
    backup_live: bool = True,
) -> tuple[list[object], HandoverState | None, HandoverMemory]:
    view = RoleView(
        "primary", serving, other, serving_report, other_report, serving_air, other_air, backup_live=backup_live
    )
    actions, state, kept = handover(view, "cam", NOW, monotonic, frozenset(), memory)
    return list(actions), state, kept


def is_yield(action: object) -> bool:
    return isinstance(action, WorkerRequest) and (action.pod, action.path, action.slot) == (
        OLD,
        HANDOVER_YIELD_PATH,
        "yield/primary",
    )


def test_a_caught_up_successor_first_has_the_backup_put_on_air_through_its_predecessor() -> None:
    actions, state, memory = switch(OLD, NEW, "primary")
    assert [is_yield(a) for a in actions] == [True]
    assert state is not None and state.step == "SwitchingToBackup"
    assert "switching to the backup ingest's media (through cam-ingest) before cam-ingest releases" in state.message
    # The yield is a lease: sent again after RESEND_SECONDS, not before.
    assert switch(OLD, NEW, "primary", memory=memory, monotonic=101.0)[0] == []
    assert [is_yield(a) for a in switch(OLD, NEW, "primary", memory=memory, monotonic=102.5)[0]] == [True]
    # The backup's media on air: the Services move (the lease renewed while it is due).
    actions, state, memory = switch(OLD, NEW, "backup", memory=memory, monotonic=101.0)
    assert actions == LABEL_MOVES
    assert state is not None and state.step == "MovingService" and state.switched
    assert "switched to the backup; the Services move from cam-ingest to cam-ingest-b" in state.message
    actions, _, _ = switch(OLD, NEW, "backup", memory=memory, monotonic=103.5)
    assert [is_yield(a) for a in actions] == [True, False, False]  # (the label patches: not shown yet)


@pytest.mark.parametrize(
    ("backup_live", "waited", "actions"),
    [
        (False, 0.0, LABEL_MOVES),  # no live backup: the ordinary handover
        (True, SWITCH_SECONDS, LABEL_MOVES),  # the backup never took the air: the handover goes on without it
    ],
)
def test_without_a_backup_on_air_the_ordinary_handover_goes_on(
    backup_live: bool, waited: float, actions: list[object]
) -> None:
    memory = switch(OLD, NEW, "primary")[2] if waited else NO_MEMORY
    found, state, _ = switch(OLD, NEW, "primary", memory=memory, monotonic=100.0 + waited, backup_live=backup_live)
    assert found == actions and state is not None and state.step == "MovingService" and not state.switched


def test_the_predecessor_of_a_switchover_goes_once_the_successor_switched_back() -> None:
    released, on_air = HandoverReport(release="released"), HandoverReport(phase="on-air")
    # Released, the successor on air with the backup's media: the yield is no longer sent; it waits.
    switched = HandoverMemory(done=("switched/b1",))  # (seen before the release)
    actions, state, _ = switch(SERVING_NEW, HANDED, "backup", None, on_air, released, switched)
    assert actions == [] and state is not None and state.step == "Releasing" and state.switched
    assert "switched back to its own media once its encoder is back" in state.message
    actions, state, _ = switch(SERVING_NEW, HANDED, "primary", None, on_air, released, switched)
    assert state is None and actions[0] == DeletePod(HANDED)
    assert isinstance(actions[1], PostEvent) and actions[1].message == (
        "primary ingest handed over from cam-ingest to cam-ingest-b because containers[ingest].image changed: "
        "switched to the backup, then switched back to cam-ingest-b's own media"
    )
    # Its encoder not back within the bound: it goes anyway, and the Event says the backup is on air.
    late = replace(HANDED, handed_over_at=NOW - timedelta(seconds=RELEASE_SECONDS))
    actions, _, _ = switch(SERVING_NEW, late, "backup", None, on_air, released, switched)
    assert actions[0] == DeletePod(late)
    assert isinstance(actions[1], PostEvent) and actions[1].message.endswith(
        "switched to the backup, which stays on air until cam-ingest-b's own encoder is back"
    )


def test_a_predecessor_switched_to_the_backup_keeps_its_lease_until_it_releases() -> None:
    actions, _, _ = switch(SERVING_NEW, OLD, "primary", "backup", other_report=None)
    assert [type(a).__name__ for a in actions] == ["WorkerRequest", "PatchPod"]
    assert is_yield(actions[0])
    # the patch shown: the lease renewed, the release asked for (the renewal due again after RESEND_SECONDS)
    actions, _, _ = switch(SERVING_NEW, HANDED, "primary", "backup", other_report=None)
    assert [type(a).__name__ for a in actions] == ["WorkerRequest", "WorkerRequest"]
    assert [(a.pod, a.path) for a in actions if isinstance(a, WorkerRequest)] == [
        (HANDED, HANDOVER_YIELD_PATH),
        (HANDED, HANDOVER_RELEASE_PATH),
    ]


def test_the_two_roles_never_move_their_services_at_once() -> None:
    backup_old = replace(OLD, name="cam-ingest-backup", uid="c1")
    backup_new = replace(NEW, name="cam-ingest-backup-b", uid="d1", successor_of="c1")
    pods = {"primary": OLD, "backup": backup_old}
    others = {"backup": backup_new, "primary": NEW}
    serving = {"primary": Worker(air="primary", live=True), "backup": Worker(air="backup", live=True)}
    caught_up = {role: Worker(CAUGHT_UP) for role in ("primary", "backup")}
    actions, states, _ = handovers(pods, others, serving, caught_up, "cam", NOW, 100.0, frozenset(), NO_MEMORY)
    # Both caught up: the primary's switchover goes first, the backup's waits.
    assert [is_yield(a) for a in actions] == [True]
    assert (states["primary"].step, states["backup"].step) == ("SwitchingToBackup", "Waiting")
    assert states["backup"].message.endswith(
        "cam-ingest-backup-b has caught up and waits for the primary ingest's handover to end"
    )
    # The backup's successor serving already: the primary's waits at its turn.
    pods = {"primary": OLD, "backup": replace(backup_new, serving=True)}
    others = {"backup": backup_old, "primary": NEW}
    _, states, _ = handovers(pods, others, serving, caught_up, "cam", NOW, 100.0, frozenset(), NO_MEMORY)
    assert states["primary"].step == "Waiting"


def test_a_backup_seen_caught_up_a_tick_before_the_primary_goes_first_and_the_primary_switches_over_after_it() -> None:
    """ci51: each role's /status is its own read, one after the other in a tick, so two successors
    that catch up at once may be seen a tick apart. The backup's seen first, its handover goes the
    ordinary way and the primary's waits for its end (it never yields to a backup that releases);
    then the primary's switchover runs as planned (its backup live again, on its successor)."""
    backup_old = replace(OLD, name="cam-ingest-backup", uid="c1")
    backup_new = replace(NEW, name="cam-ingest-backup-b", uid="d1", successor_of="c1")
    serving: dict[Role, Worker] = {role: Worker(air=role, live=True) for role in ("primary", "backup")}
    following, caught_up = Worker(HandoverReport(phase="following")), Worker(CAUGHT_UP)

    def tick(
        backup_pods: tuple[PodObservation, PodObservation | None], other: dict[Role, Worker], memory: HandoverMemory
    ) -> tuple[list[HandoverAction], dict[Role, HandoverState], HandoverMemory]:
        pods: dict[Role, PodObservation] = {"primary": OLD, "backup": backup_pods[0]}
        others: dict[Role, PodObservation] = {"primary": NEW}
        if backup_pods[1] is not None:
            others["backup"] = backup_pods[1]
        return handovers(pods, others, serving, other, "cam", NOW, 100.0, frozenset(), memory)

    # The backup's caught-up seen, the primary's not yet: the backup's Services move.
    actions, states, memory = tick((backup_old, backup_new), {"primary": following, "backup": caught_up}, NO_MEMORY)
    assert [a.pod.name for a in actions if isinstance(a, PatchPod)] == ["cam-ingest-backup", "cam-ingest-backup-b"]
    assert (states["primary"].step, states["backup"].step) == ("Following", "MovingService")
    # The primary's seen a tick later: it waits, no yield, while the backup's handover moves and releases.
    both: dict[Role, Worker] = {"primary": caught_up, "backup": caught_up}
    actions, states, memory = tick((backup_old, backup_new), both, memory)
    assert not any(is_yield(a) for a in actions) and states["primary"].step == "Waiting"
    assert states["primary"].why == "the backup ingest's handover is at MovingService"
    moved = (replace(backup_new, serving=True), replace(backup_old, serving=False, handed_over_at=NOW))
    actions, states, memory = tick(moved, both, memory)
    assert not any(is_yield(a) for a in actions) and states["primary"].decision.startswith("Waiting: primary")
    assert states["primary"].why == "the backup ingest's handover is at Releasing"
    # The backup's predecessor gone: the primary's switchover, its backup live on its successor.
    actions, states, memory = tick((moved[0], None), {"primary": caught_up}, memory)
    assert [is_yield(a) for a in actions] == [True] and states["primary"].step == "SwitchingToBackup"


def test_a_handover_decision_is_said_once_per_change_and_its_end_once() -> None:
    following = HandoverState("primary", "Following", "cam-ingest", "cam-ingest-b", "config.dvr")
    said, memory = handover_decisions({"primary": following}, LiveStreamMemory())
    assert said == [
        Say(
            "handover Following: primary ingest handing over from cam-ingest to cam-ingest-b because config.dvr "
            "changed: cam-ingest-b follows cam-ingest's media until it has caught up"
        )
    ]
    assert handover_decisions({"primary": following}, memory) == ([], memory), "not again at each tick"
    waiting = replace(following, step="Waiting", why="the backup ingest's handover is at Releasing")
    said, memory = handover_decisions({"primary": waiting}, memory)
    assert [s.text for s in said] == [
        "handover Waiting: primary ingest handing over from cam-ingest to cam-ingest-b because config.dvr changed: "
        "cam-ingest-b has caught up and waits for the backup ingest's handover to end "
        "(the backup ingest's handover is at Releasing)"
    ]
    said, memory = handover_decisions({}, memory)
    assert said == [Say("handover: primary ingest: none under way")]
    assert handover_decisions({}, memory) == ([], memory)


def test_a_primary_with_a_backup_says_why_its_handover_goes_on_without_the_switch() -> None:
    view = RoleView("primary", OLD, NEW, None, CAUGHT_UP, "primary", with_backup=True)
    _, state, _ = handover(view, "cam", NOW, 100.0, frozenset(), NO_MEMORY)
    assert state is not None and state.why == "no switch to the backup: its own publisher does not send"
    _, state, _ = handover(replace(view, with_backup=False), "cam", NOW, 100.0, frozenset(), NO_MEMORY)
    assert state is not None and state.why == "", "a stream without a backup: nothing to say"


def test_a_successor_that_fails_during_a_switchover_ends_the_yield() -> None:
    """No yield is sent once it failed: the lease runs out and the primary's own media goes back on air."""
    _, _, memory = switch(OLD, NEW, "backup")
    failed = replace(NEW, phase="Failed", detail="OOMKilled")
    actions, state, _ = switch(OLD, failed, "backup", memory=memory, monotonic=110.0)
    assert [type(a).__name__ for a in actions] == ["PatchPod", "DeletePod", "PostEvent"] and state is None
