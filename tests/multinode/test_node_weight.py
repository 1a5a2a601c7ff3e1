"""A node of the local cluster weighs a machine against the host's processes: its cgroup root has
the CPU weight of as many busy processes as the host has cores (devtools.cluster.node,
node_cpu_weight). At the default weight all of a node's Pods together competed as one process
against every host session (the kernel's autogroups), and the edge autoscaling test's viewers lost
segments while the media tier's FFmpeg ran beside it (docs/design/local-cluster.md)."""

from __future__ import annotations

from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.node import CGROUP_FS, node_cpu_weight


def test_every_nodes_cgroup_root_weighs_a_machine(cluster: LocalCluster) -> None:
    expected = node_cpu_weight()
    seen = {
        (node.name, name): int((d / name).read_text())
        for node in cluster.nodes
        for d in node.cgroup_dirs()
        for name in expected
        if (d / name).exists()
    }
    assert seen, f"no cpu weight file under {CGROUP_FS} for {[n.cgroup_root for n in cluster.nodes]}"
    assert all(weight == expected[name] for (_, name), weight in seen.items()), (seen, expected)
