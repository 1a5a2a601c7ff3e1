"""The PodDisruptionBudget of a worker that its status loop hands over (docs/design/handover.md,
Part 5): the stream's pusher, a Recording's recorder. Pure. Under the restart policy `handover` a
drain (any eviction) cannot take the worker while it is Ready: the operator sees the node cordoned
(drain.py), hands the worker over to a Pod on another node and deletes the old one itself (a deletion
is no eviction). These workers carry no serving label, so the budget selects both slots' Pods and
holds as many as are there: two during a handover, so that neither the predecessor nor the Ready
successor is evicted before the handover ends."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.control.workers.worker_pod import spec_hash
from streamops.kube.manifests import Manifest
from streamops.kube.naming import SPEC_HASH_ANNOTATION


def held_pods(pods: Sequence[Manifest | None]) -> int:
    """How many of the worker's Pods (its two slots, after this reconcile's writes) the budget holds:
    those there and not being deleted; at least one (the worker about to be made)."""
    alive = [p for p in pods if p is not None and not (p.get("metadata") or {}).get("deletionTimestamp")]
    return max(1, len(alive))


def worker_budget(pod: Manifest, name: str, keys: Sequence[str], held: int) -> Manifest:
    """`minAvailable: held` of the Pods whose labels `keys` match the worker Pod `pod`'s (both slots
    of one worker), named `name`, labelled and owned as the Pod is. An integer minAvailable, not
    maxUnavailable 0: the disruption controller computes maxUnavailable from the Pods' controller's
    scale subresource, which a Restream or a Recording has not (the budget would never sync).
    AlwaysAllow: a worker that is not Ready (a successor still starting, a crash-looping one) must
    not hold a drain up. The owners are in the hash: a shared pusher's change as Restreams come and
    go, and its budget's are patched with them (children.ensure_owned)."""
    meta = pod["metadata"]
    labels = dict(meta.get("labels") or {})
    spec: Manifest = {
        "minAvailable": held,
        "selector": {"matchLabels": {k: labels[k] for k in keys}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    owners = list(meta.get("ownerReferences") or [])
    digest = spec_hash({"spec": spec, "owners": sorted(str(ref.get("uid")) for ref in owners)})
    metadata = {
        "name": name,
        "namespace": meta.get("namespace"),
        "labels": labels,
        "annotations": {SPEC_HASH_ANNOTATION: digest},
        "ownerReferences": owners,
    }
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata, "spec": spec}
