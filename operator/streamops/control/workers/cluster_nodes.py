"""The cluster's nodes as the operator reads them: what placement (placement.py) and the drain signal
(drain.py) look at, from a kopf index of the nodes (handlers.py) trimmed to those facts
(docs/design/handover.md)."""

from __future__ import annotations

from collections.abc import Iterable

from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import HOSTNAME_TOPOLOGY

ZONE_TOPOLOGY = "topology.kubernetes.io/zone"  # the well-known label: one failure domain per value
# What `kubectl cordon` (and drain) sets, besides spec.unschedulable; the node lifecycle controller
# adds the taint for a node marked unschedulable.
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
# Taints that keep a new worker Pod off a node (workers tolerate none of them for scheduling: their
# only tolerations are node_loss.py's NoExecute ones, which let them stay, not land).
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


def node_entry(body: Body) -> dict[tuple[str, str], Manifest]:
    """A node as the operator's index keeps it (under ("", name), as the other watched kinds): its
    name, its zone and hostname labels, whether it is cordoned, and its taints' keys and effects.
    Not its status (which changes with every heartbeat) nor its images (most of a node's body)."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    labels = meta.get("labels") or {}
    trimmed: Manifest = {
        "metadata": {
            "name": meta.get("name"),
            "labels": {k: str(labels[k]) for k in (ZONE_TOPOLOGY, HOSTNAME_TOPOLOGY) if k in labels},
        },
        "spec": {
            "unschedulable": bool(spec.get("unschedulable")),
            "taints": [{"key": t.get("key"), "effect": t.get("effect")} for t in spec.get("taints") or []],
        },
    }
    return {("", str(meta.get("name") or "")): trimmed}


def node_name(node: Manifest) -> str:
    return str((node.get("metadata") or {}).get("name") or "")


def zone_of(node: Manifest) -> str:
    return str(((node.get("metadata") or {}).get("labels") or {}).get(ZONE_TOPOLOGY) or "")


def cordoned(node: Manifest) -> bool:
    """`kubectl cordon`/`drain` marked it: spec.unschedulable, or the taint that says so."""
    spec = node.get("spec") or {}
    return bool(spec.get("unschedulable")) or any(t.get("key") == UNSCHEDULABLE_TAINT for t in spec.get("taints") or [])


def schedulable(node: Manifest) -> bool:
    """A new worker Pod may land on it: not cordoned, no taint that keeps Pods off (a control-plane
    node's NoSchedule, a not-ready node's)."""
    taints = (node.get("spec") or {}).get("taints") or []
    return not cordoned(node) and not any(t.get("effect") in BLOCKING_EFFECTS for t in taints)


def by_name(nodes: Iterable[Manifest]) -> dict[str, Manifest]:
    return {node_name(n): n for n in nodes}
