"""The operator's least-privilege RBAC, next to the code that needs it (the Helm chart renders
these rules; `streamops rbac` prints them as a ClusterRole; the cluster suite runs the operator
under exactly these rules, so a missing one fails a test).

Why each rule exists:
- the three kinds: kopf watches them (list, watch; the operator's sweep lists their metadata too)
  and removes the finalizer earlier versions put on them (patch); LiveStreams
  are read from the operator's index of them (no get); Recordings are read (the `<stream>-auto`
  one), created and deleted for `recording.auto`, and stopped (patch); Restreams get the stream's
  ownerReference (patch);
- their status subresources: the status loops write status (patch; status is read with the object);
- their finalizers subresources: children carry blockOwnerDeletion, which clusters with the
  OwnerReferencesPermissionEnforcement admission plugin allow only to who may update them;
- Pods: the workers (create, delete to roll; list/watch feed the pod indexes, from which the
  reconcilers read them: no get; patch hands a stream's standby recorder to a Recording);
- Services: ingest endpoints (create, patch on drift, delete the backup's; list/watch feed the
  service index the reconcilers read, and list learns host-port allocations at start);
- Ingresses (networking.k8s.io) and HTTPRoutes (gateway.networking.k8s.io): a stream's playback
  route (create, patch on a changed spec hash, delete when no longer wanted; get at reconcile: they
  are not watched, the ingest Service records which kind a stream has);
- Secrets: the generated stream key (create; a conflict means it exists) and the existence check of
  referenced ones (get).
  No list/watch: the operator never reads Secrets it was not pointed at;
- PersistentVolumeClaims: the default recordings claim (get, create). Never deleted: videos outlive
  everything the operator manages;
- Events: transitions (create: kopf posts core/v1 Events and never patches them) and a Restream's
  aggregated RestreamBackoff Warning (create, patch: one Event per failure streak, its count updated;
  restream/backoff_event.py); the audited RBAC test in tests/cluster/test_chart_install.py fails on
  any verb granted but unused;
- CRDs and Namespaces (list, watch): kopf's discovery of resources and namespaces.
"""

from __future__ import annotations

from streamops.api import GROUP, KINDS
from streamops.control.shared.manifests import Manifest, PolicyRule

READ = ["get", "list", "watch"]
WATCH = ["list", "watch"]


def cluster_role_rules() -> list[PolicyRule]:
    plurals = {k.kind: k.plural for k in KINDS}
    return [
        {"apiGroups": [GROUP], "resources": [plurals["LiveStream"], plurals["Restream"]], "verbs": [*WATCH, "patch"]},
        {"apiGroups": [GROUP], "resources": [plurals["Recording"]], "verbs": [*READ, "patch", "create", "delete"]},
        {"apiGroups": [GROUP], "resources": [f"{k.plural}/status" for k in KINDS], "verbs": ["patch"]},
        {"apiGroups": [GROUP], "resources": [f"{k.plural}/finalizers" for k in KINDS], "verbs": ["update"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "create", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch", "create", "patch", "delete"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "create", "patch", "delete"]},
        {
            "apiGroups": ["gateway.networking.k8s.io"],
            "resources": ["httproutes"],
            "verbs": ["get", "create", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    ]


def cluster_role(name: str = "streamops") -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "streamops"}},
        "rules": cluster_role_rules(),
    }


def operator_rbac_objects(namespace: str, name: str = "streamops") -> list[Manifest]:
    """The operator's ServiceAccount in `namespace`, the ClusterRole and the binding between them:
    what the chart installs, as plain manifests (the test and benchmark harnesses run the
    operator under exactly these)."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    return [account, cluster_role(name), binding]
