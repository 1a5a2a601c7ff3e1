"""The kubelet's configuration on a local node (devtools.cluster.node): how often it writes to the API server."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.cluster.controlplane import NODE_LEASE_SECONDS, ControlPlane
from devtools.cluster.images import ImageBuilder
from devtools.cluster.network import ClusterNetwork
from devtools.cluster.node import Node


def kubelet_config(tmp_path: Path, pod_network: bool) -> dict[str, object]:
    plane = ControlPlane(tmp_path, bin_dir=tmp_path)
    address = ClusterNetwork(tmp_path, 2).nodes[0] if pod_network else None
    node = Node(tmp_path, plane, builder=ImageBuilder(tmp_path / "cache"), address=address)
    node.root.mkdir(parents=True)
    node.serving_cert = "kubelet-serving"  # (what _certs() names)
    return dict(json.loads(node._write_kubelet_config().read_text()))


def test_a_node_posts_a_status_change_within_5_s_and_an_unchanged_status_every_5_min(tmp_path: Path) -> None:
    # Set alone, nodeStatusUpdateFrequency is also the report frequency (the kubelet's backward-compatible
    # default): a full status PATCH of every node every 5 s, to every watcher of nodes.
    for pod_network in (False, True):
        config = kubelet_config(tmp_path / str(pod_network), pod_network)
        assert config["nodeStatusUpdateFrequency"] == "5s"
        assert config["nodeStatusReportFrequency"] == "5m"
    # What tells the node lifecycle controller a pod-network node lives: its Lease, renewed every 2 s.
    assert config["nodeLeaseDurationSeconds"] == NODE_LEASE_SECONDS
