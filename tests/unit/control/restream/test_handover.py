"""A busy shared pusher handed over to a successor (control/restream/handover.py, and the reconcile's
successor: successor_pod.plan_successor through reconcile_restream against the fake API server): every step,
bound and failure, once each. docs/design/handover.md, Part 5."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import livestream, restream
from devtools.fake_kube import FakeKubeApi
from streamops.contract.pusher import TARGETS_PATH, PusherSetStatus, PusherTargets
from streamops.control.restream.handover import CONNECT_SECONDS, HANDOVER_SLOT, PusherPair, pusher_handover
from streamops.control.restream.reconcile import reconcile_restream
from streamops.control.runtime.decisions import PostEvent, WorkerRequest
from streamops.control.runtime.handover_steps import (
    HANDED_OVER,
    HANDOVER_FAILED,
    READY_SECONDS,
    RESEND_SECONDS,
    DeletePod,
    HandoverMemory,
    PatchPod,
)
from streamops.control.shared.settings import NodeLossSettings, WorkerSettings
from streamops.control.workers.handover_marks import (
    HANDOVER_FAILED_ANNOTATION,
    HANDOVER_FOR_ANNOTATION,
    SUCCESSOR_OF_ANNOTATION,
    HandoverFailure,
)
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange

from tests.unit.control.runtime.test_handover_steps import HANDING_OVER, NOW, UPGRADED, worker_pair

OLD, NEW = worker_pair("cam-pusher", "containers[pushers].image")
TARGET = {"id": "r1", "name": "out", "version": "3", "feedUrl": "http://cam/feed", "uri": "rtmp://t/live"}
WANTED = PusherTargets.model_validate({"targets": [{**TARGET, "noAudioMode": "drop", "streamKey": "k"}]})
RUNNING = PusherSetStatus.model_validate({"targets": [{**TARGET, "live": True, "state": "live"}]})
NONE = PusherSetStatus()


def step(
    pair: PusherPair, memory: HandoverMemory | None = None, in_flight: frozenset[str] = frozenset(), at: float = 0
) -> tuple[list[Any], str, HandoverMemory]:
    actions, state, after = pusher_handover(pair, WANTED, "cam", NOW, 100.0 + at, in_flight, memory or HandoverMemory())
    return actions, state.step, after


def put_to(action: Any) -> tuple[str, dict[str, Any]]:
    assert isinstance(action, WorkerRequest) and action.method == "PUT" and action.path == TARGETS_PATH
    assert action.slot == HANDOVER_SLOT
    assert action.wake, "its answer wakes the loop, which reads the Pod afresh: the next step follows at once"
    return action.pod.name, json.loads(action.body)


def test_a_successor_not_ready_yet_is_waited_for() -> None:
    assert step(PusherPair(OLD, replace(NEW, ready=False), RUNNING))[:2] == ([], "Starting")


def test_a_ready_successor_first_has_the_predecessor_let_its_targets_go() -> None:
    actions, state, memory = step(PusherPair(OLD, NEW, RUNNING, NONE))
    [release] = actions
    assert state == "Releasing" and put_to(release) == ("cam-pusher", {"targets": []})
    assert step(PusherPair(OLD, NEW, RUNNING, NONE), memory, at=RESEND_SECONDS / 2)[0] == [], "not again at once"
    assert step(PusherPair(OLD, NEW, RUNNING, NONE), memory, frozenset({HANDOVER_SLOT}), RESEND_SECONDS)[0] == []
    assert len(step(PusherPair(OLD, NEW, RUNNING, NONE), memory, at=RESEND_SECONDS)[0]) == 1, "its effect not seen"
    assert step(PusherPair(OLD, NEW, None, NONE))[0] == [], "the predecessor's set not read yet: nothing sent"


def test_while_the_streams_ingest_is_handed_over_the_predecessor_keeps_its_targets() -> None:
    """The successor reads the feed through the ingest's internal Service, which routes to the
    ingest's successor while it moves, a feed without media until the encoder is back on it:
    released then, a drain moving both kept the target off air 5.9 s (s15's multinode run)."""
    pair = PusherPair(OLD, NEW, RUNNING, NONE)

    def moving(memory: HandoverMemory | None = None) -> tuple[list[Any], str, HandoverMemory]:
        actions, state, after = pusher_handover(
            pair, WANTED, "cam", NOW, 100.0, frozenset(), memory or HandoverMemory(), ingest_moving=True
        )
        return actions, state.step, after

    assert moving()[:2] == ([], "WaitingForIngest")
    [release], state, memory = step(pair)  # the ingest's handover over: released
    assert state == "Releasing" and put_to(release) == ("cam-pusher", {"targets": []})
    assert moving(memory)[1] == "Releasing", "a release sent is seen through, whatever the ingest does"
    actions, state, _ = pusher_handover(
        PusherPair(OLD, NEW, NONE, NONE), WANTED, "cam", NOW, 100.0, frozenset(), HandoverMemory(), ingest_moving=True
    )
    assert state.step == "Connecting" and len(actions) == 1, "a predecessor that let go: its targets go on"


def test_once_the_predecessor_runs_no_target_the_successor_is_sent_the_set() -> None:
    actions, state, _ = step(PusherPair(OLD, NEW, NONE, NONE))
    [connect] = actions
    name, body = put_to(connect)
    assert state == "Connecting" and name == "cam-pusher-b" and [t["id"] for t in body["targets"]] == ["r1"]
    assert body["targets"][0]["streamKey"] == "k", "the whole set, keys included"
    assert step(PusherPair(OLD, NEW, NONE, None))[0] == [], "the successor's set not read yet"


def test_the_successor_is_sent_the_set_in_the_tick_the_release_answer_wakes() -> None:
    """No tick between the two steps: the release's answer (given once the predecessor's
    connections closed) wakes the loop, whose read of the predecessor shows no target."""
    [release], _, memory = step(PusherPair(OLD, NEW, RUNNING, NONE))
    assert put_to(release)[0] == "cam-pusher"
    [connect], state, _ = step(PusherPair(OLD, NEW, NONE, NONE), memory, at=0.05)
    assert state == "Connecting" and put_to(connect)[0] == "cam-pusher-b"


def test_once_the_successor_runs_the_set_the_predecessor_goes_and_it_is_said_once() -> None:
    actions, _, memory = step(PusherPair(OLD, NEW, NONE, RUNNING))
    assert actions == [
        DeletePod(OLD),
        PostEvent(
            "Normal",
            HANDED_OVER,
            "pusher handed over from cam-pusher to cam-pusher-b because containers[pushers].image changed",
        ),
    ]
    assert step(PusherPair(OLD, NEW, NONE, RUNNING), memory)[0] == []
    # Observed after an operator restart: the successor runs the set, so the predecessor goes (its
    # deletion ends whatever it still pushes), whatever it runs.
    assert step(PusherPair(OLD, NEW, RUNNING, RUNNING))[0][0] == DeletePod(OLD)


@pytest.mark.parametrize(
    ("successor", "successor_set", "why"),
    [
        (
            replace(NEW, ready=False, created_at=NOW - timedelta(seconds=READY_SECONDS + 1), waiting="ErrImagePull"),
            None,
            "cam-pusher-b was not Ready within 60 s (ErrImagePull)",
        ),
        (replace(NEW, phase="Failed", ready=False, detail="OOMKilled"), None, "Pod cam-pusher-b is Failed: OOMKilled"),
        (
            replace(NEW, created_at=NOW - timedelta(seconds=CONNECT_SECONDS + 1)),
            NONE,
            "cam-pusher-b did not run the stream's targets within 120 s",
        ),
    ],
    ids=["not-ready", "failed", "not-connected"],
)
def test_a_failed_successor_goes_and_the_predecessor_keeps_running(
    successor: PodObservation, successor_set: PusherSetStatus | None, why: str
) -> None:
    previous = HandoverFailure(NOW - timedelta(minutes=5), 1, "earlier").record()
    old = replace(OLD, handover_failed=previous)
    actions, _, memory = step(PusherPair(old, successor, NONE, successor_set))
    patch, delete, event = actions
    assert isinstance(patch, PatchPod) and patch.pod == old
    record = HandoverFailure.parse(patch.patch["metadata"]["annotations"][HANDOVER_FAILED_ANNOTATION])
    assert record == HandoverFailure(NOW, 2, why), "the second in a row: the next waits 60 s"
    assert delete == DeletePod(successor)
    assert event == PostEvent(
        "Warning",
        HANDOVER_FAILED,
        f"pusher handover from cam-pusher to cam-pusher-b failed: {why}; cam-pusher keeps running, tried again in 60 s",
    )
    assert step(PusherPair(old, successor, NONE, successor_set), memory)[0] == [], "once"


# --- the reconcile: the successor made in the other slot ------------------------------------------

NS = "default"


def live_pusher(api: FakeKubeApi) -> dict[str, Any]:
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out", uri="rtmp://target.example/live/x"))
    reconcile_restream(api, HANDING_OVER, api.object("Restream", NS, "out") or {})
    api.modify("Restream", NS, "out", {"status": {"live": True}})
    return api.object("Pod", NS, "cam-pusher") or {}


def test_a_busy_pusher_that_must_change_gets_a_successor_in_the_other_slot(api: FakeKubeApi) -> None:
    old = live_pusher(api)
    outcome = reconcile_restream(api, UPGRADED, api.object("Restream", NS, "out") or {})
    assert outcome.pod_change == PodChange("handover", "spec.tolerations")
    assert api.object("Pod", NS, "cam-pusher") == old, "the predecessor runs on"
    successor = api.object("Pod", NS, "cam-pusher-b") or {}
    annotations = successor["metadata"]["annotations"]
    assert annotations[SUCCESSOR_OF_ANNOTATION] == old["metadata"]["uid"]
    assert annotations[HANDOVER_FOR_ANNOTATION] == "spec.tolerations"
    assert successor["metadata"]["ownerReferences"] == old["metadata"]["ownerReferences"]
    # Reconciled again: the successor under way is left alone.
    reconcile_restream(api, UPGRADED, api.object("Restream", NS, "out") or {})
    assert (api.object("Pod", NS, "cam-pusher-b") or {})["metadata"]["uid"] == successor["metadata"]["uid"]
    # Once the predecessor is gone, the successor is the pusher: nothing differs, nothing more is made.
    api.delete("Pod", NS, "cam-pusher", old["metadata"]["uid"])
    assert reconcile_restream(api, UPGRADED, api.object("Restream", NS, "out") or {}).pod_change.action == "keep"
    assert api.object("Pod", NS, "cam-pusher") is None
    # Idle, another change: the pusher in the second slot is the one replaced.
    api.modify("Restream", NS, "out", {"status": {"live": False}})
    api.clear_calls()
    assert reconcile_restream(api, HANDING_OVER, api.object("Restream", NS, "out") or {}).pod_change.action == "replace"
    assert [(c.verb, c.name) for c in api.writes if c.verb == "delete"] == [("delete", "cam-pusher-b")]


def test_a_stale_successor_goes_and_a_failed_one_is_tried_again_later(api: FakeKubeApi) -> None:
    old = live_pusher(api)
    reconcile_restream(api, UPGRADED, api.object("Restream", NS, "out") or {})
    stale = api.object("Pod", NS, "cam-pusher-b") or {}
    changed_again = UPGRADED.model_copy(
        update={"node_loss": NodeLossSettings(toleration_seconds=UPGRADED.node_loss.toleration_seconds + 1)}
    )
    reconcile_restream(api, changed_again, api.object("Restream", NS, "out") or {})
    deleted = [c.name for c in api.writes if c.verb == "delete" and c.result == "ok"]
    assert "cam-pusher-b" in deleted, "built for an older spec: it goes (the next reconcile makes a new one)"
    assert stale["metadata"]["uid"] != (api.object("Pod", NS, "cam-pusher-b") or {"metadata": {}})["metadata"].get(
        "uid"
    )
    # A failure recorded on the predecessor holds the next successor until its time.
    failure = HandoverFailure(datetime.now(UTC).replace(microsecond=0), 1, "not Ready")
    api.modify("Pod", NS, "cam-pusher", {"metadata": {"annotations": {HANDOVER_FAILED_ANNOTATION: failure.record()}}})
    if api.object("Pod", NS, "cam-pusher-b") is not None:
        api.delete("Pod", NS, "cam-pusher-b")
    outcome = reconcile_restream(api, changed_again, api.object("Restream", NS, "out") or {})
    assert outcome.pod_change.action == "handover" and outcome.pod_change.retry_at == failure.retry_at
    assert api.object("Pod", NS, "cam-pusher-b") is None
    assert (api.object("Pod", NS, "cam-pusher") or {})["metadata"]["uid"] == old["metadata"]["uid"]


def test_under_the_policy_idle_a_busy_pusher_still_waits(api: FakeKubeApi) -> None:
    live_pusher(api)
    idle = UPGRADED.model_copy(update={"worker": WorkerSettings(restart_policy="idle")})
    assert reconcile_restream(api, idle, api.object("Restream", NS, "out") or {}).pod_change.action == "wait"
    assert api.object("Pod", NS, "cam-pusher-b") is None


# --- the loop's decide: the handover's step instead of the ordinary send ----------------------------


def test_during_a_handover_decide_takes_its_step_and_status_reads_the_successor() -> None:
    from streamops.control.restream.decide import decide

    from tests.unit.control.restream.test_decide import EMPTY, POD, QUIET, UID, Row, observed, running

    successor = replace(NEW, successor_of=POD.uid, created_at=None)
    releasing = observed(
        Row("r", seen={"running": running(live=True), "successor": successor, "successor_running": EMPTY})
    )
    actions, after = decide(releasing, QUIET)
    requests = [a for a in actions if isinstance(a, WorkerRequest)]
    assert [(r.pod.name, r.slot, json.loads(r.body)) for r in requests] == [
        ("cam-pusher", HANDOVER_SLOT, {"targets": []})
    ]
    assert after.handover.sent, "remembered: not sent again at once"
    # The successor runs the set: this Restream's telemetry is its, and the predecessor goes.
    moved = running(live=True, bytesSent=4096)
    done = observed(Row("d", seen={"running": EMPTY, "successor": successor, "successor_running": moved}))
    assert done.telemetry == moved.of(UID)
    actions, _ = decide(done, QUIET)
    assert DeletePod(POD) in actions
    assert [a.reason for a in actions if isinstance(a, PostEvent)] == [HANDED_OVER]
    assert not [a for a in actions if isinstance(a, WorkerRequest)], "no ordinary send during a handover"
