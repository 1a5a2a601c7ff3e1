"""The drain signal (workers/drain.py): a Pod on a cordoned node, and what a reconcile does with it
(the part `node` through the restart rules): the ingest's, and the pusher's and the recorder's with
their PodDisruptionBudgets (workers/worker_budget.py)."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import livestream, recording, restream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.restream.reconcile import reconcile_restream
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.workers.cluster_nodes import UNSCHEDULABLE_TAINT, node_entry
from streamops.control.workers.drain import NODE_PART, drain_reason, room_elsewhere
from streamops.control.workers.handover_marks import HANDOVER_FOR_ANNOTATION
from streamops.control.workers.restarts import KEEP, REPLACED_FOR_ANNOTATION, PodChange
from streamops.kube.naming import COMPONENT_LABEL, INSTANCE_LABEL, RECORDING_LABEL, RESTARTS_ANNOTATION

NS = "media"


def node(name: str, unschedulable: bool = False, taint: bool = False) -> dict[str, Any]:
    taints = [{"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}] if taint else []
    spec = {"unschedulable": unschedulable, "taints": taints}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


def pod(on: str | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "cam-ingest"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": on} if on else {}}


@pytest.mark.parametrize(
    ("the_pod", "the_node", "want"),
    [
        (pod("w2"), node("w2", unschedulable=True), "node w2 is cordoned (kubectl drain)"),
        (pod("w2"), node("w2", taint=True), "node w2 is cordoned (kubectl drain)"),
        (pod("w2"), node("w2"), None),  # the node takes Pods
        (pod("w1"), node("w2", unschedulable=True), None),  # another node
        (pod(None), node("w2", unschedulable=True), None),  # not scheduled yet
        (pod("w2", deleting=True), node("w2", unschedulable=True), None),  # already going
        (None, node("w2", unschedulable=True), None),
        (pod("w2"), None, None),  # a node the index does not have (gone)
    ],
)
def test_drain_reason(the_pod: dict[str, Any] | None, the_node: dict[str, Any] | None, want: str | None) -> None:
    trimmed = next(iter(node_entry(the_node).values())) if the_node else None
    assert drain_reason(the_pod, trimmed) == want


@pytest.fixture
def api() -> FakeKubeApi:
    api = operator_view()
    api.watch("Node", node_entry)
    for name in ("w1", "w2"):
        api.add(node(name))
    stream = livestream("cam")
    stream["metadata"]["namespace"] = NS
    api.add(stream)
    reconcile_livestream(api, OperatorSettings(), api.object("LiveStream", NS, "cam") or {})
    api.modify("Pod", NS, "cam-ingest", {"spec": {"nodeName": "w2"}})
    return api


def test_a_cordoned_node_is_a_difference_named_node_through_the_restart_rules(api: FakeKubeApi) -> None:
    body = api.object("LiveStream", NS, "cam") or {}
    assert reconcile_livestream(api, OperatorSettings(), body, primary_live=True).pod_changes == {}
    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    # Live: handed over (the default policy: a successor starts on another node), or with the policy
    # idle it waits and status says RestartPending.
    idle = OperatorSettings(worker=WorkerSettings(restart_policy="idle"))
    assert reconcile_livestream(api, idle, body, primary_live=True).pod_changes == {
        "primary": PodChange("wait", NODE_PART)
    }
    outcome = reconcile_livestream(api, OperatorSettings(), body, primary_live=True)
    assert outcome.pod_changes == {"primary": PodChange("handover", NODE_PART)}
    api.delete("Pod", NS, "cam-ingest-b")  # (the successor it made: this test follows the idle path)
    api.clear_calls()
    # Idle: replaced; the scheduler puts the new one on a node that takes Pods.
    outcome = reconcile_livestream(api, OperatorSettings(), body, primary_live=False)
    assert outcome.pod_changes == {"primary": PodChange("replace", NODE_PART)}
    patches = [c.body for c in api.writes if (c.verb, c.kind) == ("patch", "Pod")]
    assert patches == [{"metadata": {"annotations": {REPLACED_FOR_ANNOTATION: NODE_PART}}}]


def test_uncordoned_again_nothing_waits(api: FakeKubeApi) -> None:
    body = api.object("LiveStream", NS, "cam") or {}
    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    assert reconcile_livestream(api, OperatorSettings(), body, primary_live=True).pod_changes
    api.modify("Node", "", "w2", {"spec": {"unschedulable": False}})
    assert reconcile_livestream(api, OperatorSettings(), body, primary_live=True).pod_changes == {}


# --- the pusher and the recorder (docs/design/handover.md, Part 5): their budget, their drain -------

POD_BUDGET = "PodDisruptionBudget"


def cluster_of_two() -> FakeKubeApi:
    api = operator_view()
    api.watch("Node", node_entry)
    for name in ("w1", "w2"):
        api.add(node(name))
    stream = livestream("cam")
    stream["metadata"]["namespace"] = NS
    api.add(stream)
    return api


def pusher_on_w2(api: FakeKubeApi, settings: OperatorSettings) -> dict[str, Any]:
    api.add_in(NS, restream("out", uri="rtmp://target.example/live/x"))
    reconcile_restream(api, settings, api.object("Restream", NS, "out") or {})
    api.modify("Pod", NS, "cam-pusher", {"spec": {"nodeName": "w2"}})
    api.modify("Restream", NS, "out", {"status": {"live": True}})
    return api.object("Pod", NS, "cam-pusher") or {}


def held(api: FakeKubeApi, name: str) -> int | None:
    budget = api.object(POD_BUDGET, NS, name)
    return budget["spec"]["minAvailable"] if budget else None


def test_a_pushing_pusher_on_a_cordoned_node_is_handed_over_while_its_budget_holds_both_pods() -> None:
    api = cluster_of_two()
    pusher = pusher_on_w2(api, OperatorSettings())
    budget = api.object(POD_BUDGET, NS, "cam-pusher") or {}
    assert budget["spec"] == {
        "minAvailable": 1,
        "selector": {"matchLabels": {INSTANCE_LABEL: "cam", COMPONENT_LABEL: "pusher"}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    assert budget["metadata"]["ownerReferences"] == pusher["metadata"]["ownerReferences"], "owned as the Pod"
    body = api.object("Restream", NS, "out") or {}
    assert reconcile_restream(api, OperatorSettings(), body).pod_change.action == "keep"

    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    assert reconcile_restream(api, OperatorSettings(), body).pod_change == PodChange("handover", NODE_PART)
    successor = api.object("Pod", NS, "cam-pusher-b") or {}
    assert successor["metadata"]["annotations"][HANDOVER_FOR_ANNOTATION] == NODE_PART
    assert "nodeName" not in successor["spec"], "the scheduler places it: not on the cordoned node"
    assert held(api, "cam-pusher") == 2, "neither the predecessor nor the Ready successor is evicted meanwhile"
    # Uncordoned mid-way: the move completes (the targets may have been let go already).
    api.modify("Node", "", "w2", {"spec": {"unschedulable": False}})
    assert reconcile_restream(api, OperatorSettings(), body).pod_change.action == "keep"
    assert (api.object("Pod", NS, "cam-pusher-b") or {})["metadata"]["uid"] == successor["metadata"]["uid"]
    # Handed over (the status loop deletes the predecessor): the budget holds the one Pod again.
    api.delete("Pod", NS, "cam-pusher", pusher["metadata"]["uid"])
    reconcile_restream(api, OperatorSettings(), body)
    assert held(api, "cam-pusher") == 1


def test_a_second_restream_owns_the_pushers_budget_too() -> None:
    api = cluster_of_two()
    pusher_on_w2(api, OperatorSettings())
    api.add_in(NS, restream("out2", uri="rtmp://target.example/live/y"))
    reconcile_restream(api, OperatorSettings(), api.object("Restream", NS, "out2") or {})
    owners = {r["name"] for r in (api.object(POD_BUDGET, NS, "cam-pusher") or {})["metadata"]["ownerReferences"]}
    assert owners == {"out", "out2"}, "the garbage collector removes it with the last Restream, as the Pod"


def test_under_the_policy_idle_a_pusher_has_no_budget_and_a_cordon_is_nothing_to_it() -> None:
    api = cluster_of_two()
    pusher_on_w2(api, OperatorSettings())
    assert held(api, "cam-pusher") == 1
    idle = OperatorSettings(worker=WorkerSettings(restart_policy="idle"))
    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    assert reconcile_restream(api, idle, api.object("Restream", NS, "out") or {}).pod_change.action == "keep"
    assert api.object(POD_BUDGET, NS, "cam-pusher") is None, "deleted: a drain evicts the pusher as before"
    assert api.object("Pod", NS, "cam-pusher-b") is None


def recorder_on_w2(api: FakeKubeApi, modes: list[str]) -> dict[str, Any]:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "videos"}}
    claim["spec"] = {"accessModes": modes}
    api.add_in(NS, claim)
    body = recording("rec", storage={"pvc": {"claimName": "videos"}})
    body["metadata"]["annotations"] = {RESTARTS_ANNOTATION: "handover"}
    api.add_in(NS, body)
    reconcile_recording(api, OperatorSettings(), api.object("Recording", NS, "rec") or {})
    api.modify("Pod", NS, "rec-recorder", {"spec": {"nodeName": "w2"}})
    api.modify("Recording", NS, "rec", {"status": {"recording": True}})
    return api.object("Pod", NS, "rec-recorder") or {}


def test_a_recorder_on_a_claim_any_node_mounts_is_handed_over_off_a_cordoned_node() -> None:
    api = cluster_of_two()
    recorder = recorder_on_w2(api, ["ReadWriteMany"])
    budget = api.object(POD_BUDGET, NS, "rec-recorder") or {}
    selector = {INSTANCE_LABEL: "cam", COMPONENT_LABEL: "recorder", RECORDING_LABEL: "rec"}
    assert budget["spec"]["selector"] == {"matchLabels": selector} and budget["spec"]["minAvailable"] == 1
    assert [r["kind"] for r in budget["metadata"]["ownerReferences"]] == ["Recording"]

    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    outcome = reconcile_recording(api, OperatorSettings(), api.object("Recording", NS, "rec") or {})
    assert outcome.pod_change == PodChange("handover", NODE_PART) and outcome.cannot_move is None
    successor = api.object("Pod", NS, "rec-recorder-b") or {}
    assert successor["metadata"]["annotations"][HANDOVER_FOR_ANNOTATION] == NODE_PART
    assert "affinity" not in successor["spec"], "no claim affinity ties it to the predecessor's node"
    assert held(api, "rec-recorder") == 2
    # Stopped and finalised: the recorder goes, and its budget with it.
    api.delete("Pod", NS, "rec-recorder-b")
    api.delete("Pod", NS, "rec-recorder", recorder["metadata"]["uid"])
    api.modify("Recording", NS, "rec", {"spec": {"stopped": True}})
    reconcile_recording(api, OperatorSettings(), api.object("Recording", NS, "rec") or {})
    assert api.object(POD_BUDGET, NS, "rec-recorder") is None


def test_a_recorder_on_a_one_node_claim_gets_no_budget_and_says_why_it_cannot_move() -> None:
    """A ReadWriteOnce claim keeps every recorder of it on its node: a successor could not leave it,
    so a budget would hold the drain for ever. None: the drain evicts the recorder, as before."""
    api = cluster_of_two()
    recorder_on_w2(api, ["ReadWriteOnce"])
    assert api.object(POD_BUDGET, NS, "rec-recorder") is None
    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    outcome = reconcile_recording(api, OperatorSettings(), api.object("Recording", NS, "rec") or {})
    assert outcome.pod_change.action == "keep" and api.object("Pod", NS, "rec-recorder-b") is None
    assert outcome.cannot_move == (
        "node w2 is cordoned (kubectl drain), but the recorder cannot be handed over to another node: its claim "
        "videos is ReadWriteOnce (only its node mounts it); a drain evicts it"
    )


def test_with_no_other_node_to_go_to_a_pusher_has_no_budget_and_a_drain_evicts_it() -> None:
    """A budget would hold the drain for ever: every successor would stay Pending."""
    api = cluster_of_two()
    pusher_on_w2(api, OperatorSettings())
    for name in ("w1", "w2"):
        api.modify("Node", "", name, {"spec": {"unschedulable": True}})
    assert reconcile_restream(api, OperatorSettings(), api.object("Restream", NS, "out") or {}).pod_change == KEEP
    assert api.object(POD_BUDGET, NS, "cam-pusher") is None and api.object("Pod", NS, "cam-pusher-b") is None


@pytest.mark.parametrize(
    ("nodes", "want"),
    [
        (None, True),  # the operator does not see the nodes
        ([node("w2")], False),
        ([node("w2"), node("w1", unschedulable=True)], False),
        ([node("w2", unschedulable=True), node("w1")], True),
    ],
)
def test_room_elsewhere(nodes: list[dict[str, Any]] | None, want: bool) -> None:
    trimmed = [next(iter(node_entry(n).values())) for n in nodes] if nodes is not None else None
    assert room_elsewhere(pod("w2"), trimmed) is want
