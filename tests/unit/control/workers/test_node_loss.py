"""Node loss (docs/design/node-loss.md): tolerations on every worker Pod, what a Pod on a lost node
looks like to the operator, the force-delete decision (a pure function of the observation and the
clock), the loop step that acts on it, and the conditions in between."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import kopf
import pytest
from devtools.catalog import livestream, recording, stored_livestream, stored_recording, stored_restream
from devtools.fake_kube import FakeKubeApi
from streamops.api import LiveStream
from streamops.control.livestream import reasons as stream_reasons
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    livestream_events,
    livestream_status,
)
from streamops.control.recording.loop import RECORDING_LOOP
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.status import RecorderObservation, recording_events, recording_status
from streamops.control.restream.specs.pod import shared_pusher_pod
from streamops.control.restream.status import PusherObservation, restream_status
from streamops.control.runtime import object_loop
from streamops.control.runtime.decisions import lost_pods
from streamops.control.runtime.indexes import child_entry, stream_object_entry
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import force_delete, loop_facts
from streamops.control.shared.settings import NodeLossSettings, OperatorSettings
from streamops.control.storage.recorder_pod import recorder_standby_pod
from streamops.control.workers.node_loss import (
    LOST_NODE_GRACE_SECONDS,
    NODE_LOST,
    force_delete_at,
    force_delete_due,
    node_lost_event,
)
from streamops.control.workers.pod_observation import PodObservation

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


stream = partial(stored_livestream, uid="stream-uid", generation=1)
rec = stored_recording
rst = stored_restream


def evicted_pod(deadline: datetime, node: str = "node-b", taint_eviction: bool = True) -> dict[str, Any]:
    """A worker Pod as the API server shows it once the taint eviction controller deleted it from a
    node whose kubelet is gone: deletionTimestamp (= request time + grace), Ready False (the node
    lifecycle controller), DisruptionTarget (the eviction), phase still Running."""
    conditions = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": iso(T0 - timedelta(minutes=5))},
        {"type": "Ready", "status": "False", "lastTransitionTime": iso(T0 - timedelta(seconds=60))},
    ]
    if taint_eviction:
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }
        )
    return {
        "metadata": {
            "name": "rec-recorder",
            "namespace": "media",
            "uid": "old-uid",
            "deletionTimestamp": iso(deadline),
            "deletionGracePeriodSeconds": 15,
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "record", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"phase": "Running", "podIP": "10.244.1.7", "conditions": conditions},
    }


# --- tolerations ---------------------------------------------------------------------------------


def test_every_worker_pod_tolerates_node_loss_for_the_configured_time():
    settings = OperatorSettings(node_loss=NodeLossSettings(toleration_seconds=45))
    pods = [
        ingest_pod(stream(), "primary", settings, None),
        recorder_pod(rec(), stream(), settings),
        recorder_standby_pod(stream(), "cam-recorder-1", settings),
        shared_pusher_pod(stream(), [rst()], settings),
    ]
    for pod in pods:
        tolerations = {(t["key"], t["effect"]): t for t in pod["spec"]["tolerations"]}
        for taint in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"):
            t = tolerations[(taint, "NoExecute")]
            assert (t["operator"], t["tolerationSeconds"]) == ("Exists", 45), pod["metadata"]["name"]
    # The default replaces Kubernetes' 300 s (DefaultTolerationSeconds adds nothing to a Pod that has these).
    default = ingest_pod(stream(), "primary", SETTINGS, None)["spec"]["tolerations"]
    assert {t["tolerationSeconds"] for t in default} == {30}


def test_the_toleration_is_part_of_the_spec_hash():
    a = recorder_pod(rec(), stream(), SETTINGS)["metadata"]["annotations"]
    b = recorder_pod(rec(), stream(), OperatorSettings(node_loss=NodeLossSettings(toleration_seconds=60)))["metadata"][
        "annotations"
    ]
    assert a["streaming.streamops.dev/spec-hash"] != b["streaming.streamops.dev/spec-hash"]


# --- what the operator sees, and the decision ------------------------------------------------------


def test_observation_of_a_pod_evicted_from_a_lost_node():
    deadline = T0 - timedelta(seconds=3)
    pod = PodObservation.of("rec-recorder", evicted_pod(deadline))
    assert pod.deleting and pod.evicted_from_lost_node and pod.node == "node-b"
    assert pod.deletion_deadline == deadline
    assert pod.status_url is None  # not asked any more: it is going away


def test_force_delete_is_due_only_past_the_deadline_and_margin():
    deadline = T0
    pod = PodObservation.of("rec-recorder", evicted_pod(deadline))
    assert force_delete_at(pod, 10) == deadline + timedelta(seconds=10)
    assert not force_delete_due(pod, deadline + timedelta(seconds=9), 10)  # its kubelet may still confirm
    assert force_delete_due(pod, deadline + timedelta(seconds=10), 10)
    # Any Pod stuck terminating past that (deleted by a roll or a user, its node then lost) counts too.
    rolled = PodObservation.of("rec-recorder", evicted_pod(deadline, taint_eviction=False))
    assert force_delete_due(rolled, deadline + timedelta(seconds=11), 10) and not rolled.evicted_from_lost_node


def test_a_long_grace_is_not_waited_for_on_a_lost_node():
    """An uploading recorder has 300 s of grace; evicted from a lost node it is replaced as fast as
    any worker (nothing there runs its grace, its scratch space is gone with the node)."""
    deadline = T0 + timedelta(seconds=300 - 15)
    long_grace = evicted_pod(deadline)
    long_grace["metadata"]["deletionGracePeriodSeconds"] = 300
    pod = PodObservation.of("rec-recorder", long_grace)
    assert force_delete_at(pod, 10) == T0 + timedelta(seconds=10)
    # Deleted by a user or a roll (its node not lost): its kubelet gets the whole grace.
    rolled = evicted_pod(deadline, taint_eviction=False)
    rolled["metadata"]["deletionGracePeriodSeconds"] = 300
    assert force_delete_at(PodObservation.of("rec-recorder", rolled), 10) == deadline + timedelta(seconds=10)


def test_pods_not_being_deleted_are_never_force_deleted():
    running = PodObservation(name="p", exists=True, uid="u", phase="Running", ready=False, node="node-b")
    assert force_delete_at(running, 0) is None and not force_delete_due(running, T0 + timedelta(days=1), 0)
    assert not force_delete_due(PodObservation(name="p"), T0, 0)  # no Pod at all
    # A node that comes back: its kubelet finishes the deletion, the Pod is gone before the deadline,
    # and the observation is simply absent (nothing to decide).


def test_node_lost_event_names_the_pod_and_node():
    pod = PodObservation.of("rec-recorder", evicted_pod(T0))
    message = node_lost_event(pod, T0 + timedelta(seconds=12))
    assert "rec-recorder" in message and "node-b" in message and "12 s" in message


# --- the loop step ---------------------------------------------------------------------------------


async def remove_lost_pods(loop: ObjectLoop[Any], *pods: PodObservation | None) -> None:
    """What a tick does with lost Pods: decisions.lost_pods decides, tick.force_delete acts."""
    for lost in lost_pods(loop_facts(loop), pods):
        await force_delete(loop, lost.pod.name, lost.pod.uid, lost.pod.node, node_lost_event(lost.pod, lost.now))


def _loop_with(api: FakeKubeApi, settings: OperatorSettings) -> ObjectLoop[Any]:
    body = recording("rec")
    body["metadata"].update(namespace="media", uid="r", generation=1)
    state = OperatorState(api=api, settings=settings)
    return ObjectLoop(state, RECORDING_LOOP, LiveObject(("Recording", "media", "rec"), kopf.Body(body)))


def test_loop_force_deletes_a_lost_pod_once_with_a_uid_precondition(monkeypatch: pytest.MonkeyPatch):
    events: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        object_loop.kopf, "event", lambda body, type, reason, message: events.append((type, reason, message))
    )
    api = FakeKubeApi()
    stuck = evicted_pod(datetime.now(UTC) - timedelta(seconds=30))
    api.add({"apiVersion": "v1", "kind": "Pod", **stuck})
    uid = api.object("Pod", "media", "rec-recorder")["metadata"]["uid"]  # type: ignore[index]
    stored = api.object("Pod", "media", "rec-recorder")
    pod = PodObservation.of("rec-recorder", stored)

    async def run() -> ObjectLoop[Any]:
        loop = _loop_with(api, SETTINGS)
        await remove_lost_pods(loop, pod, None)
        await remove_lost_pods(loop, pod)  # the index still shows it (lag): not again
        loop.state.executor.shutdown()
        loop.state.status_executor.shutdown()
        return loop

    loop = asyncio.run(run())
    deletes = [c for c in api.calls if c.verb == "delete"]
    assert [(c.name, c.body) for c in deletes] == [
        ("rec-recorder", {"preconditions": {"uid": uid}, "gracePeriodSeconds": 0})
    ]
    assert api.object("Pod", "media", "rec-recorder") is None
    assert [(t, r) for t, r, _ in events] == [("Warning", NODE_LOST)] and "node-b" in events[0][2]
    assert loop.requested  # the reconcile that creates the replacement comes next


def test_loop_leaves_a_pod_within_its_grace_alone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(object_loop.kopf, "event", lambda *a, **k: pytest.fail("no Event expected"))
    api = FakeKubeApi()
    api.add({"apiVersion": "v1", "kind": "Pod", **evicted_pod(datetime.now(UTC) + timedelta(seconds=5))})
    pod = PodObservation.of("rec-recorder", api.object("Pod", "media", "rec-recorder"))

    async def run() -> None:
        loop = _loop_with(api, SETTINGS)
        await remove_lost_pods(loop, pod)
        assert not loop.requested
        loop.state.executor.shutdown()
        loop.state.status_executor.shutdown()

    asyncio.run(run())
    assert not [c for c in api.calls if c.verb == "delete"]


# --- conditions in between ---------------------------------------------------------------------------


def test_recording_says_its_recorder_node_is_lost_and_warns():
    recording_before = recording_status(
        rec(), RecorderObservation(pod=PodObservation("rec-recorder"), stream_live=True), T0
    )
    lost = PodObservation.of("rec-recorder", evicted_pod(T0 + timedelta(seconds=10)))
    # The stream's ingest was on that node too: the node loss is what the Recording says first.
    status = recording_status(
        rec(recording_before.wire()), RecorderObservation(pod=lost, stream_live=False), T0 + timedelta(seconds=1)
    )
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RecorderNodeLost") and "node-b" in ready.message
    assert {c.type: c.reason for c in status.conditions}["Reconciling"] == "RecorderNodeLost"


def test_recording_ready_to_node_lost_posts_a_warning():
    ok = recording_status(rec(), RecorderObservation(pod=PodObservation("rec-recorder"), stream_live=True), T0)
    # pretend it was Ready (recording) before
    live = ok.model_copy(update={"conditions": [c.model_copy(update={"status": "True"}) for c in ok.conditions]})
    lost = PodObservation.of("rec-recorder", evicted_pod(T0 + timedelta(seconds=10)))
    after = recording_status(rec(live.wire()), RecorderObservation(pod=lost, stream_live=True), T0)
    warnings = [e for e in recording_events(live, after) if e.type == "Warning"]
    assert [e.reason for e in warnings] == ["RecorderNodeLost"]


def _ingest_status(pod: PodObservation, before: LiveStream | None = None, at: datetime = T0) -> Any:
    served = {"primary": EndpointObservation("cam-ingest", served=True)}  # its Service routes to it
    return livestream_status(before or stream(), IngestObservation({"primary": pod}, endpoints=served), at)


def test_livestream_says_its_ingest_was_evicted_from_a_lost_node_and_warns():
    running = PodObservation(name="cam-ingest", exists=True, uid="u", phase="Running", ready=True, node="node-b")
    ready = _ingest_status(running)
    assert {c.type: (c.status, c.reason) for c in ready.conditions}["Ready"] == ("True", "IngestRunning")
    lost = PodObservation.of("cam-ingest", evicted_pod(T0 + timedelta(seconds=10)))
    after = _ingest_status(lost, stream(ready), T0 + timedelta(seconds=1))
    conditions = {c.type: c for c in after.conditions}
    assert (conditions["Ready"].status, conditions["Ready"].reason) == ("False", stream_reasons.INGEST_NODE_LOST)
    assert "cam-ingest" in conditions["Ready"].message and "node-b" in conditions["Ready"].message
    assert conditions["Reconciling"].reason == stream_reasons.INGEST_NODE_LOST  # it comes back by itself
    assert "Stalled" not in conditions
    # Ready True -> False is the condition transition's Warning, once.
    events = [(e.type, e.reason) for e in livestream_events(ready, after)]
    assert events == [("Warning", "IngestNodeLost")]


def test_an_ingest_still_starting_on_a_lost_node_warns_too():
    pending = PodObservation(name="cam-ingest", exists=True, uid="u", phase="Pending", node="node-b")
    before = _ingest_status(pending)
    assert {c.type: (c.status, c.reason) for c in before.conditions}["Ready"] == ("False", "IngestPending")
    lost = PodObservation.of("cam-ingest", evicted_pod(T0 + timedelta(seconds=10)))
    after = _ingest_status(lost, stream(before), T0 + timedelta(seconds=1))
    assert [(e.type, e.reason) for e in livestream_events(before, after)] == [("Warning", "IngestNodeLost")]
    again = _ingest_status(lost, stream(after), T0 + timedelta(seconds=2))
    assert livestream_events(after, again) == []  # no Event while it stays lost
    # Force-deleted: the new Pod on its way says so in Ready, with no further Event.
    gone = _ingest_status(PodObservation("cam-ingest"), stream(again), T0 + timedelta(seconds=30))
    assert {c.type: c.reason for c in gone.conditions}["Ready"] == "IngestStarting"
    assert livestream_events(again, gone) == []


def test_an_ingest_whose_node_stops_answering_warns_when_it_is_evicted():
    """The node lifecycle controller marks the Pod not Ready first (Ready False already), then the
    taint manager evicts it: that second step still posts the Warning."""
    ready = PodObservation(name="cam-ingest", exists=True, uid="u", phase="Running", ready=True, node="node-b")
    up = _ingest_status(ready)
    unready = _ingest_status(
        PodObservation(name="cam-ingest", exists=True, uid="u", phase="Running", node="node-b"), stream(up)
    )
    assert {c.type: c.status for c in unready.conditions}["Ready"] == "False"
    lost = PodObservation.of("cam-ingest", evicted_pod(T0 + timedelta(seconds=10)))
    after = _ingest_status(lost, stream(unready), T0 + timedelta(seconds=1))
    assert [(e.type, e.reason) for e in livestream_events(unready, after)] == [("Warning", "IngestNodeLost")]


def test_an_ingest_deleted_otherwise_is_starting_not_lost():
    rolled = PodObservation.of("cam-ingest", evicted_pod(T0 + timedelta(seconds=10), taint_eviction=False))
    status = _ingest_status(rolled)
    assert {c.type: c.reason for c in status.conditions}["Ready"] == "IngestStarting"


def test_restream_says_its_pusher_node_is_lost():
    lost = PodObservation.of("out-pusher", evicted_pod(T0 + timedelta(seconds=10)))
    status = restream_status(rst(), PusherObservation(pod=lost, stream_live=False), T0)
    assert {c.type: (c.status, c.reason) for c in status.conditions}["Ready"] == ("False", "PusherNodeLost")


def test_the_reconcile_waits_for_a_terminating_pod_and_replaces_it_once_gone(monkeypatch: pytest.MonkeyPatch):
    """A Pod being deleted is left alone by ensure_pod (same name: no create is possible); once the
    loop force-deleted it, the owner's reconcile creates the replacement."""
    monkeypatch.setattr(object_loop.kopf, "event", lambda *a, **k: None)
    api = FakeKubeApi()
    api.watch("Pod", child_entry)
    api.watch("Service", child_entry)
    api.watch("LiveStream", stream_object_entry)
    for body in (livestream("cam"), recording("rec")):
        body["metadata"]["namespace"] = "media"
        api.add(body)
    rec_body = api.object("Recording", "media", "rec")
    assert rec_body is not None
    reconcile_recording(api, SETTINGS, rec_body)
    first = api.object("Pod", "media", "rec-recorder")
    assert first is not None
    lost = evicted_pod(datetime.now(UTC) - timedelta(seconds=20))
    deletion = {"deletionTimestamp": lost["metadata"]["deletionTimestamp"], "deletionGracePeriodSeconds": 15}
    api.modify("Pod", "media", "rec-recorder", {"metadata": deletion, "spec": {"nodeName": "node-b"}})
    api.modify("Pod", "media", "rec-recorder", {"status": lost["status"]})
    stuck = api.object("Pod", "media", "rec-recorder")
    assert stuck is not None and stuck["metadata"]["deletionTimestamp"]

    api.clear_calls()
    reconcile_recording(api, SETTINGS, rec_body)
    assert not api.writes  # nothing to do while it terminates

    async def run() -> None:
        loop = _loop_with(api, SETTINGS)
        await remove_lost_pods(loop, PodObservation.of("rec-recorder", stuck))
        loop.state.executor.shutdown()
        loop.state.status_executor.shutdown()

    asyncio.run(run())
    reconcile_recording(api, SETTINGS, rec_body)
    new = api.object("Pod", "media", "rec-recorder")
    assert new is not None and new["metadata"]["uid"] != first["metadata"]["uid"]
    assert not new["metadata"].get("deletionTimestamp")


def test_the_stream_reconcile_leaves_an_evicted_ingest_alone_and_replaces_it_once_gone():
    api = FakeKubeApi()
    api.watch("Pod", child_entry)
    api.watch("Service", child_entry)
    api.watch("LiveStream", stream_object_entry)
    body = livestream("cam")
    body["metadata"]["namespace"] = "media"
    api.add(body)
    stream_body = api.object("LiveStream", "media", "cam")
    assert stream_body is not None
    reconcile_livestream(api, SETTINGS, stream_body, auto_recording_exists=False)
    first = api.object("Pod", "media", "cam-ingest")
    assert first is not None
    lost = evicted_pod(datetime.now(UTC) - timedelta(seconds=20))
    deletion = {"deletionTimestamp": lost["metadata"]["deletionTimestamp"], "deletionGracePeriodSeconds": 15}
    api.modify("Pod", "media", "cam-ingest", {"metadata": deletion, "spec": {"nodeName": "node-b"}})
    api.modify("Pod", "media", "cam-ingest", {"status": lost["status"]})
    stuck = api.object("Pod", "media", "cam-ingest")
    assert stuck is not None and PodObservation.of("cam-ingest", stuck).evicted_from_lost_node

    api.clear_calls()
    reconcile_livestream(api, SETTINGS, stream_body, auto_recording_exists=False)
    assert not [c for c in api.writes if c.kind == "Pod"]  # nothing to do while it terminates

    api.delete("Pod", "media", "cam-ingest")  # what the loop's force delete does
    reconcile_livestream(api, SETTINGS, stream_body, auto_recording_exists=False)
    new = api.object("Pod", "media", "cam-ingest")
    assert new is not None and new["metadata"]["uid"] != first["metadata"]["uid"]


def test_the_grace_counted_on_a_lost_node_is_a_setting():
    """node_lost_grace_seconds caps the grace an evicted Pod waits for (its default: the workers'
    15 s, so nothing changes unless it is set); a Pod deleted otherwise keeps its whole grace."""
    assert OperatorSettings().node_loss.grace_seconds == LOST_NODE_GRACE_SECONDS
    deadline = T0 + timedelta(seconds=15)
    pod = PodObservation.of("cam-ingest", evicted_pod(deadline))
    assert pod.deletion_grace_seconds == 15
    assert force_delete_at(pod, 10) == deadline + timedelta(seconds=10)  # the default: all 15 s count
    assert force_delete_at(pod, 2, lost_grace_seconds=1) == T0 + timedelta(seconds=1 + 2)
    assert force_delete_due(pod, T0 + timedelta(seconds=3), 2, lost_grace_seconds=1)
    assert not force_delete_due(pod, T0 + timedelta(seconds=2.9), 2, lost_grace_seconds=1)
    rolled = PodObservation.of("cam-ingest", evicted_pod(deadline, taint_eviction=False))
    assert force_delete_at(rolled, 2, lost_grace_seconds=1) == deadline + timedelta(seconds=2)
