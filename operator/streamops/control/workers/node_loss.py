"""Worker Pods on a node that died (docs/design/node-loss.md).

Worker Pods have fixed names and no ReplicaSet. When their node stops answering, the node
lifecycle controller taints it `node.kubernetes.io/unreachable:NoExecute` (or `not-ready`); our
toleration lets the Pod stay `node_lost_toleration_seconds`, then the taint eviction controller
deletes it with its grace period. Its kubelet is gone, so nothing ever confirms that deletion: the
Pod would stay Terminating for good, and its replacement (same name) could never be created. So a
worker Pod still there `node_lost_force_delete_seconds` after its deletion deadline is deleted for
good (grace period 0, only that uid) and its owner's reconcile creates it again on a healthy node.
Of an evicted Pod's grace period at most `node_lost_grace_seconds` counts (nothing on a lost node
runs it).

Pure functions: the decision is a function of the observation and the clock, so it is level-based
(a Pod whose node came back is deleted by its kubelet before the deadline and never reaches here).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from streamops.contract.worker import POD_GRACE_SECONDS
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Manifest

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
LOST_NODE_GRACE_SECONDS = POD_GRACE_SECONDS  # the grace of every worker but an uploading recorder
NODE_LOST = "NodeLost"  # the Warning Event on the owner when its Pod is force-deleted


def node_loss_tolerations(seconds: int) -> list[Manifest]:
    """What every worker Pod carries instead of the 300 s the DefaultTolerationSeconds admission
    plugin would add (it adds nothing when a Pod tolerates these taints already)."""
    return [
        {"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
        for taint in (UNREACHABLE_TAINT, NOT_READY_TAINT)
    ]


def force_delete_at(
    pod: PodObservation, margin_seconds: float, lost_grace_seconds: float = LOST_NODE_GRACE_SECONDS
) -> datetime | None:
    """When the Pod counts as lost with its node: its deletion deadline (which includes its grace
    period) plus a margin for a slow kubelet and clock skew; None while it is not being deleted.
    A Pod evicted from a lost node waits at most `lost_grace_seconds` of its grace (the setting
    node_lost_grace_seconds, by default LOST_NODE_GRACE_SECONDS): no kubelet runs its long grace (an
    uploading recorder's 300 s) there, and its emptyDir went with the node."""
    if not pod.exists or pod.deletion_deadline is None:
        return None
    deadline = pod.deletion_deadline
    grace = pod.deletion_grace_seconds or 0
    if pod.evicted_from_lost_node and grace > lost_grace_seconds:
        deadline -= timedelta(seconds=grace - lost_grace_seconds)
    return deadline + timedelta(seconds=margin_seconds)


def force_delete_due(
    pod: PodObservation, now: datetime, margin_seconds: float, lost_grace_seconds: float = LOST_NODE_GRACE_SECONDS
) -> bool:
    """A kubelet that runs removes a deleted Pod within its grace period; one still there after the
    margin has no kubelet that will."""
    deadline = force_delete_at(pod, margin_seconds, lost_grace_seconds)
    return deadline is not None and now >= deadline


def node_lost_event(pod: PodObservation, now: datetime) -> str:
    """The NodeLost Event's message."""
    overdue = int((now - pod.deletion_deadline).total_seconds()) if pod.deletion_deadline else 0
    node = f"node {pod.node}" if pod.node else "its node"
    why = "evicted for a NoExecute taint, " if pod.evicted_from_lost_node else ""
    return (
        f"Pod {pod.name} on {node} is still terminating {overdue} s past its grace period ({why}its kubelet "
        "does not answer): deleted for good, a new one is created on a node that works"
    )
