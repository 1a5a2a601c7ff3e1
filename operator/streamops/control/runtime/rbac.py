"""The operator's least-privilege RBAC rules, next to the code that needs them: the Helm chart
renders them, `streamops rbac` prints them as a ClusterRole, and the cluster suite runs the operator
under exactly these rules. Why each rule exists: docs/design/rbac.md."""

from __future__ import annotations

from streamops.api import GROUP, KINDS
from streamops.kube.manifests import Manifest, PolicyRule

READ = ["get", "list", "watch"]
WATCH = ["list", "watch"]


def cluster_role_rules() -> list[PolicyRule]:
    plurals = {k.kind: k.plural for k in KINDS}
    return [
        {"apiGroups": [GROUP], "resources": [plurals["LiveStream"], plurals["Restream"]], "verbs": [*WATCH, "patch"]},
        {"apiGroups": [GROUP], "resources": [plurals["Recording"]], "verbs": [*READ, "patch", "create", "delete"]},
        # Webhook subscriptions are only read (their status is written through /status).
        {"apiGroups": [GROUP], "resources": [plurals["StreamWebhook"]], "verbs": WATCH},
        # Clips are only read (a Clip's spec is immutable; its status is written through /status).
        {"apiGroups": [GROUP], "resources": [plurals["Clip"]], "verbs": [*WATCH]},
        # Quality sets are read from the watch (a stream's ladder, the streams to re-plan on a change).
        {"apiGroups": [GROUP], "resources": [plurals["QualitySet"]], "verbs": [*WATCH]},
        {"apiGroups": [GROUP], "resources": [plurals["Broadcast"]], "verbs": [*WATCH]},
        # Playback policies: read from the watch (their status loop; the streams that name them, next).
        {"apiGroups": [GROUP], "resources": [plurals["PlaybackPolicy"]], "verbs": [*WATCH]},
        {"apiGroups": [GROUP], "resources": [f"{k.plural}/status" for k in KINDS if k.namespaced], "verbs": ["patch"]},
        # Cluster-scoped, so in the ClusterRole even when only some namespaces are watched: the
        # operator keeps the default set (created when missing, never updated: quality_sets.py).
        {"apiGroups": [GROUP], "resources": [plurals["ClusterQualitySet"]], "verbs": [*WATCH, "create"]},
        {
            "apiGroups": [GROUP],
            "resources": [f"{k.plural}/status" for k in KINDS if not k.namespaced],
            "verbs": ["patch"],
        },
        {
            "apiGroups": [GROUP],
            "resources": [f"{plurals[k]}/finalizers" for k in ("LiveStream", "Recording", "Restream", "Clip")],
            "verbs": ["update"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "create", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch", "create", "patch", "delete"]},
        # The ingest Services' EndpointSlices: Ready waits until a Service routes to its Pod (read
        # from the index of a watch, never with a GET).
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": [*WATCH]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": [*READ, "create", "patch", "delete"]},
        # The workers' NetworkPolicies in the namespaces of a cluster-wide install (worker_network_policies.py).
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "create", "patch"]},
        {
            "apiGroups": ["gateway.networking.k8s.io"],
            "resources": ["httproutes"],
            "verbs": [*READ, "create", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        # A namespace's edge tier (control/edge/): owners and routes rewritten with PUT (update).
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "create", "update", "delete"]},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get", "create"]},
        # ... and the webhooks' outboxes, one per stream (webhook/store.py): listed once per namespace,
        # deleted once drained; and the playback rules, one ConfigMap per namespace whose key of a
        # stream its reconcile merge-patches (patch).
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "create", "update", "patch", "delete"],
        },
        # The ingests' PodDisruptionBudgets (restart policy handover): read from the index of a watch.
        {
            "apiGroups": ["policy"],
            "resources": ["poddisruptionbudgets"],
            "verbs": [*WATCH, "create", "patch", "delete"],
        },
        # Nodes, cluster-scoped: the backups' spread by zone and node, and cordoned nodes (a drain), from
        # the index of a watch; never written.
        {"apiGroups": [""], "resources": ["nodes"], "verbs": [*WATCH]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]


def leader_election_rules() -> list[PolicyRule]:
    """The leader election Lease (control/runtime/leader_election.py), in the operator's own namespace
    only (a Role there): read it, create it the first time, renew, take over and release it."""
    return [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]


def cluster_role(name: str = "streamops") -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "streamops"}},
        "rules": cluster_role_rules(),
    }


def operator_rbac_objects(namespace: str, name: str = "streamops") -> list[Manifest]:
    """The operator's ServiceAccount in `namespace`, the ClusterRole, the leader election Role in
    `namespace` and the bindings: what the chart installs, as plain manifests (the test and
    benchmark harnesses run the operator under exactly these)."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
    subjects = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    }
    election = {"name": f"{name}-leader-election", "namespace": namespace}
    role: Manifest = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": dict(election),
        "rules": leader_election_rules(),
    }
    role_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": dict(election),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": election["name"]},
        "subjects": subjects,
    }
    return [account, cluster_role(name), binding, role, role_binding]
