"""The harness's get and list (devtools.cluster.api_reads) read what kubectl reads: the same objects
by the same names (plural, short, `plural.group`, cluster-scoped), None for NotFound, kubectl's error
for a type the server lacks, and a token kubeconfig's permissions as the server grants them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from devtools.cluster.api_reads import ApiReadError, ApiReads
from devtools.cluster.suite import Cluster

STREAM = {
    "apiVersion": "streaming.streamops.dev/v1alpha1",
    "kind": "LiveStream",
    "metadata": {"name": "cam"},
    "spec": {"source": {"push": {"protocols": ["rtmp"]}}},
}


def kubectl_json(cluster: Cluster, *args: str) -> dict[str, object]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def test_reads_are_kubectls_by_every_name(cluster: Cluster, namespace: str) -> None:
    cluster.apply(namespace, STREAM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    reads = ApiReads(cluster.kubeconfig, timeout=30)
    for name in ("livestreams", "livestream", "lst", "livestreams.streaming.streamops.dev"):
        got = reads.get(name, namespace, "cam")
        assert (
            got is not None
            and got["metadata"]["uid"] == kubectl_json(cluster, "lst", "cam", "-n", namespace)["metadata"]["uid"]
        )  # type: ignore[index]
    assert reads.get("cm", namespace, "c") == kubectl_json(cluster, "cm", "c", "-n", namespace)
    assert reads.get("configmaps", namespace, "absent") is None
    listed = reads.list("configmaps", namespace)
    assert {(i["kind"], i["apiVersion"], i["metadata"]["name"]) for i in listed} >= {("ConfigMap", "v1", "c")}
    assert reads.list("configmaps", namespace, "no-such-label=x") == []
    assert reads.list("deployments.apps", namespace) == []
    nodes_or_namespaces = reads.get("namespaces", "ignored", namespace)  # cluster-scoped: no namespace in the path
    assert nodes_or_namespaces is not None and nodes_or_namespaces["kind"] == "Namespace"
    with pytest.raises(ApiReadError, match="doesn't have a resource type"):
        reads.get("nosuchthings", namespace, "x")


def test_a_token_kubeconfig_reads_what_its_role_allows_and_no_more(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    account = "reader"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": account, "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": account, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": account, "namespace": namespace},
    }
    kubeconfig = cluster.plane.service_account_kubeconfig(
        tmp_path / "kubeconfig", namespace, account, [service_account, role, binding]
    )
    reads = ApiReads(kubeconfig, timeout=30)
    assert reads.get("configmaps", namespace, "kube-root-ca.crt") is not None
    with pytest.raises(ApiReadError, match="403"):
        reads.get("secrets", namespace, "anything")
