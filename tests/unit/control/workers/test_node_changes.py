"""Which node events wake the streams (workers/node_changes.py)."""

from __future__ import annotations

from typing import Any

from streamops.control.workers.cluster_nodes import ZONE_TOPOLOGY
from streamops.control.workers.node_changes import NodeChange, NodeMemory, movers_to_reconcile, streams_to_reconcile
from streamops.control.workers.pod_observation import PodObservation


def node(unschedulable: bool = False, zone: str = "z1", heartbeat: str = "t0") -> dict[str, Any]:
    return {
        "metadata": {"name": "w2", "labels": {ZONE_TOPOLOGY: zone}},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": [{"type": "Ready", "lastHeartbeatTime": heartbeat}]},
    }


def test_a_cordon_and_its_undoing_wake_the_node_s_ingests_and_the_backups() -> None:
    memory = NodeMemory()
    assert memory.observe(None, node()) == NodeChange("w2", cordon=False, placement=True)  # first seen
    assert memory.observe("MODIFIED", node(heartbeat="t1")) == NodeChange("w2"), "a status update: nothing"
    assert memory.observe("MODIFIED", node(unschedulable=True)) == NodeChange("w2", cordon=True, placement=True)
    assert memory.observe("MODIFIED", node(unschedulable=True, heartbeat="t2")) == NodeChange("w2")
    assert memory.observe("MODIFIED", node()) == NodeChange("w2", cordon=True, placement=True)


def test_a_zone_change_or_a_node_gone_is_a_placement_change() -> None:
    memory = NodeMemory()
    memory.observe("ADDED", node())
    assert memory.observe("MODIFIED", node(zone="z2")) == NodeChange("w2", placement=True)
    assert memory.observe("DELETED", node(zone="z2")) == NodeChange("w2", placement=True)
    assert memory.seen == {}


def test_the_streams_to_reconcile_from_the_pod_index() -> None:
    ingest = PodObservation("a-ingest", exists=True, node="w2")
    index: dict[Any, list[Any]] = {
        ("ns", "LiveStream", "a", "ingest"): [ingest],
        ("ns", "LiveStream", "b", "ingest"): [PodObservation("b-ingest", exists=True, node="w1")],
        ("ns", "LiveStream", "b", "ingest-backup"): [PodObservation("b-ingest-backup", exists=True, node="w1")],
        ("ns", "LiveStream", "c", "recorder-standby"): [PodObservation("c-recorder-1", exists=True, node="w2")],
        ("ns", "Recording", "r", "recorder"): [PodObservation("r-recorder", exists=True, node="w2")],
        ("ns", "a-ingest"): [{"metadata": {"name": "a-ingest"}}],  # (the same index, by name)
    }
    assert streams_to_reconcile(NodeChange("w2", cordon=True), index) == {("ns", "a")}
    assert streams_to_reconcile(NodeChange("w3", placement=True), index) == {("ns", "b")}
    assert streams_to_reconcile(NodeChange("w2", cordon=True, placement=True), index) == {("ns", "a"), ("ns", "b")}
    assert streams_to_reconcile(NodeChange("w2"), index) == set()


def test_the_pushers_and_recorders_on_a_node_cordoned_or_uncordoned() -> None:
    index: dict[Any, list[Any]] = {
        ("ns", "LiveStream", "a", "pusher"): [PodObservation("a-pusher", exists=True, node="w2")],
        ("ns", "LiveStream", "b", "pusher"): [PodObservation("b-pusher-b", exists=True, node="w1")],
        ("ns", "LiveStream", "a", "ingest"): [PodObservation("a-ingest", exists=True, node="w2")],
        ("ns", "Recording", "r", "recorder"): [PodObservation("r-recorder", exists=True, node="w2")],
        ("ns", "Clip", "c", "clipper"): [PodObservation("c-clipper", exists=True, node="w2")],
        ("ns", "a-pusher"): [{"metadata": {"name": "a-pusher"}}],
    }
    want = {("LiveStream", "ns", "a"), ("Recording", "ns", "r")}  # (a stream's pusher: its Restreams reconcile)
    assert movers_to_reconcile(NodeChange("w2", cordon=True), index) == want
    assert movers_to_reconcile(NodeChange("w2", placement=True), index) == set()
