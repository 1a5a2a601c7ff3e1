"""The drain signal (workers/drain.py): a Pod on a cordoned node, and what a reconcile does with it
(the part `node` through the restart rules)."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.workers.cluster_nodes import UNSCHEDULABLE_TAINT, node_entry
from streamops.control.workers.drain import NODE_PART, drain_reason
from streamops.control.workers.restarts import REPLACED_FOR_ANNOTATION, PodChange

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
