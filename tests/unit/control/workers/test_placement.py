"""How far the backup ingest keeps from its primary (workers/placement.py): a table of clusters, and
the backup Pod a reconcile builds from the nodes the operator's index shows."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.workers.cluster_nodes import UNSCHEDULABLE_TAINT, ZONE_TOPOLOGY, node_entry
from streamops.control.workers.placement import UNSEEN, Spread, spread
from streamops.control.workers.restarts import PodChange
from streamops.kube.naming import HOSTNAME_TOPOLOGY

NS = "media"
HOST = HOSTNAME_TOPOLOGY


def node(name: str, zone: str = "", cordoned: bool = False, taints: tuple[str, ...] = ()) -> dict[str, Any]:
    """A node as the API server has it; `taints`: "key:Effect"."""
    labels = {HOSTNAME_TOPOLOGY: name, **({ZONE_TOPOLOGY: zone} if zone else {})}
    spec: dict[str, Any] = {"taints": [dict(zip(("key", "effect"), t.split(":"), strict=True)) for t in taints]}
    if cordoned:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec}


def seen(*nodes: dict[str, Any]) -> list[dict[str, Any]]:
    """As the operator's index holds them."""
    return [value for n in nodes for value in node_entry(n).values()]


@pytest.mark.parametrize(
    ("nodes", "want"),
    [
        ((node("a", "z1"), node("b", "z2")), Spread(ZONE_TOPOLOGY, True)),
        ((node("a", "z1"), node("b", "z1"), node("c", "z2"), node("d")), Spread(ZONE_TOPOLOGY, True)),
        # One zone (or none labelled) but two nodes: across nodes, required.
        ((node("a", "z1"), node("b", "z1")), Spread(HOST, True)),
        ((node("a"), node("b")), Spread(HOST, True)),
        # A zone whose only node is cordoned does not count: the backup's replacement could land nowhere.
        ((node("a", "z1"), node("b", "z2", cordoned=True), node("c", "z1")), Spread(HOST, True)),
        # One node: a backup still runs, beside its primary if it must.
        ((node("a", "z1"),), Spread(HOST, False, "the cluster has one schedulable node (of 1)")),
        ((node("a"), node("b", cordoned=True)), Spread(HOST, False, "the cluster has one schedulable node (of 2)")),
        # A control-plane node's NoSchedule taint and a not-ready node's keep workers off them.
        (
            (node("cp", "z1", taints=("node-role.kubernetes.io/control-plane:NoSchedule",)), node("w", "z2")),
            Spread(HOST, False, "the cluster has one schedulable node (of 2)"),
        ),
        (
            (node("a", "z1"), node("b", "z2", taints=("node.kubernetes.io/not-ready:NoExecute",))),
            Spread(HOST, False, "the cluster has one schedulable node (of 2)"),
        ),
        # PreferNoSchedule keeps no one off.
        ((node("a", "z1"), node("b", "z2", taints=("x:PreferNoSchedule",))), Spread(ZONE_TOPOLOGY, True)),
        # The cordon taint alone (without spec.unschedulable) says cordoned too.
        (
            (node("a", "z1"), node("b", "z2", taints=(f"{UNSCHEDULABLE_TAINT}:NoSchedule",))),
            Spread(HOST, False, "the cluster has one schedulable node (of 2)"),
        ),
        ((), Spread(HOST, False, "the cluster has no schedulable node (of 0)")),
    ],
)
def test_spread(nodes: tuple[dict[str, Any], ...], want: Spread) -> None:
    assert spread(seen(*nodes)) == want


def test_nodes_not_watched_keep_the_preferred_spread_across_nodes() -> None:
    assert spread(None) == UNSEEN and not UNSEEN.required and UNSEEN.topology == HOST


def test_the_index_keeps_a_nodes_placement_facts_only() -> None:
    body = node("a", "z1", cordoned=True, taints=("k:NoSchedule",))
    body["status"] = {"images": [{"names": ["x"] * 50}], "conditions": [{"type": "Ready"}]}
    body["metadata"]["labels"]["other"] = "x"
    [(key, kept)] = node_entry(body).items()
    assert key == ("", "a")
    assert kept == {
        "metadata": {"name": "a", "labels": {ZONE_TOPOLOGY: "z1", HOSTNAME_TOPOLOGY: "a"}},
        "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
    }


# --- the backup Pod a reconcile builds ----------------------------------------------------------


@pytest.fixture
def api() -> FakeKubeApi:
    api = operator_view()
    api.watch("Node", node_entry)
    return api


def body(api: FakeKubeApi) -> dict[str, Any]:
    return api.object("LiveStream", NS, "cam") or {}


def anti_affinity(api: FakeKubeApi, pod: str) -> dict[str, Any]:
    return ((api.object("Pod", NS, pod) or {})["spec"].get("affinity") or {}).get("podAntiAffinity", {})


def test_the_backup_is_required_in_another_zone_and_the_primary_is_left_as_it_was(api: FakeKubeApi) -> None:
    for n in (node("w1", "z1"), node("w2", "z2")):
        api.add(n)
    stream = livestream("cam", source={"push": {"protocols": ["rtmp"], "backup": True}})
    stream["metadata"]["namespace"] = NS
    api.add(stream)
    outcome = reconcile_livestream(api, OperatorSettings(), body(api))
    [term] = anti_affinity(api, "cam-ingest-backup")["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == ZONE_TOPOLOGY
    primary = api.object("Pod", NS, "cam-ingest") or {}
    assert term["labelSelector"]["matchLabels"].items() <= primary["metadata"]["labels"].items()
    assert "affinity" not in primary["spec"], "the scheduler applies the backup's term both ways"
    assert outcome.backup_spread is None, "required: nothing to say"

    # The zone's only other node is cordoned: a live backup keeps running (the restart rules), a
    # primary is not touched at all; the status says it waits.
    api.modify("Node", "", "w2", {"spec": {"unschedulable": True}})
    idle = OperatorSettings(worker=WorkerSettings(restart_policy="idle"))
    outcome = reconcile_livestream(api, idle, body(api), primary_live=True, backup_live=True)
    assert outcome.pod_changes == {"backup": PodChange("wait", "spec.affinity")}
    assert outcome.backup_spread == "the cluster has one schedulable node (of 2)"
    # Idle, it is replaced; the new one only prefers another node.
    outcome = reconcile_livestream(api, OperatorSettings(), body(api), primary_live=True, backup_live=False)
    assert outcome.pod_changes == {"backup": PodChange("replace", "spec.affinity")}
