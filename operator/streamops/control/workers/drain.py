"""The drain signal (pure; docs/design/handover.md): a worker Pod whose node is cordoned
(`kubectl cordon`, the first step of `kubectl drain`) is to move to another node. For the restart
rules (restarts.py) that is a difference like a changed spec part, named NODE_PART: a busy worker
waits for idle (or is handed over), an idle one is replaced; the scheduler keeps its replacement off
the cordoned node."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.control.workers.cluster_nodes import cordoned, node_name, schedulable
from streamops.kube.manifests import Manifest

NODE_PART = "node"  # the restart part of a Pod that must leave its node


def pod_node(pod: Manifest | None) -> str:
    """The node a Pod was scheduled to (spec.nodeName; "" before it is)."""
    return str(((pod or {}).get("spec") or {}).get("nodeName") or "")


def drain_reason(pod: Manifest | None, node: Manifest | None) -> str | None:
    """Why the Pod must leave `node` (the one it runs on), or None: no Pod, not scheduled, already
    going away, or its node takes Pods."""
    if pod is None or node is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    if pod_node(pod) != node_name(node) or not cordoned(node):
        return None
    return f"node {node_name(node)} is cordoned (kubectl drain)"


def room_elsewhere(pod: Manifest | None, nodes: Sequence[Manifest] | None) -> bool:
    """A node other than the Pod's takes Pods (True when the operator does not see the nodes): a
    successor has somewhere to go. Where none has, a PodDisruptionBudget would hold a drain for
    ever (the pusher's and the recorder's have none then, worker_budget.py)."""
    if nodes is None:
        return True
    return any(schedulable(n) and node_name(n) != pod_node(pod) for n in nodes)
