"""A LiveStream's PodDisruptionBudget per ingest role (docs/design/handover.md): with the
restart policy `handover`, `kubectl drain` (any eviction) cannot take the role's serving ingest Pod;
the operator moves it by a handover when it sees the node cordoned (workers/drain.py), and deletes
the old Pod itself (a deletion is no eviction: the budget does not hold it). A second budget per role
holds the predecessor while it releases (from the serving label's removal to its deletion)."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.contract.ingest import Role
from streamops.control.livestream.specs.child_metadata import child_metadata
from streamops.control.workers.handover_marks import RELEASING, RELEASING_LABEL, SERVING, SERVING_LABEL
from streamops.control.workers.ingest_address import ingest_names
from streamops.control.workers.worker_pod import spec_hash
from streamops.kube.manifests import Manifest
from streamops.kube.naming import COMPONENT_LABEL, INSTANCE_LABEL, SPEC_HASH_ANNOTATION, child_labels

RELEASING_SUFFIX = "-releasing"


def ingest_disruption_budget(stream: LiveStream, role: Role) -> Manifest:
    """`minAvailable: 1` of the role's serving ingest Pod (instance, component, serving): every
    eviction of it while it is Ready is refused (429) until it no longer serves. Named as the Pod,
    owned by the stream. It selects by the serving label (handover_marks.py), so that the successor
    being made ready is never the one a drain has to wait for."""
    names = ingest_names(stream.metadata.name, role)
    labels = child_labels(stream.metadata.name, names.component)
    selector = {
        INSTANCE_LABEL: labels[INSTANCE_LABEL],
        COMPONENT_LABEL: labels[COMPONENT_LABEL],
        SERVING_LABEL: SERVING,
    }
    # minAvailable 1, not maxUnavailable 0: the disruption controller computes maxUnavailable from the
    # Pods' controller's scale subresource, which a LiveStream has not (its budget would never sync).
    # AlwaysAllow: an ingest that is not Ready serves no one, and must not hold a drain up (beta and on
    # by default since Kubernetes 1.27, GA in 1.31; the chart needs 1.30).
    # Not a predecessor being handed over (releasing_disruption_budget's): a Pod that two budgets
    # select cannot be evicted at all (the eviction API answers 500, and kubectl drain gives up).
    held = {"key": RELEASING_LABEL, "operator": "DoesNotExist"}
    spec: Manifest = {
        "minAvailable": 1,
        "selector": {"matchLabels": selector, "matchExpressions": [held]},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    metadata = child_metadata(stream, names.pod, names.component)
    metadata["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(spec)
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata, "spec": spec}


def releasing_disruption_budget(stream: LiveStream, role: Role) -> Manifest:
    """`minAvailable: 1` of the role's releasing predecessor (release_patch labels it so when it
    leaves the Services): a drain's eviction of it is refused until the operator deletes it (within
    the release's bound, 30 s). The serving budget cannot hold it: a released ingest is not Ready, and
    a budget that also counts its Ready successor is met, so it would let the unready one go under
    either unhealthy-Pod policy. Here it is the budget's only Pod, so the budget is never met while
    it releases, and the default policy (IfHealthyBudget) refuses its eviction, Ready or not. Named
    `<serving budget>-releasing`; selects nothing between handovers."""
    names = ingest_names(stream.metadata.name, role)
    labels = child_labels(stream.metadata.name, names.component)
    selector = {
        INSTANCE_LABEL: labels[INSTANCE_LABEL],
        COMPONENT_LABEL: labels[COMPONENT_LABEL],
        RELEASING_LABEL: RELEASING,
    }
    spec: Manifest = {
        "minAvailable": 1,
        "selector": {"matchLabels": selector},
        "unhealthyPodEvictionPolicy": "IfHealthyBudget",
    }
    metadata = child_metadata(stream, names.pod + RELEASING_SUFFIX, names.component)
    metadata["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(spec)
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": metadata, "spec": spec}
