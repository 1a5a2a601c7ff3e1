"""The harness's get and list (devtools.cluster.api_reads) read what kubectl reads: the same objects
by the same names (plural, short, `plural.group`, cluster-scoped), None for NotFound, kubectl's error
for a type the server lacks, and a token kubeconfig's permissions as the server grants them. Its
writes (apply, create, patch, delete) do what kubectl's do and a refusal says what kubectl says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from devtools.catalog import BAD
from devtools.cluster.api_reads import ApiReadError, ApiReads, ApiRefused
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


def test_writes_do_what_kubectls_do(cluster: Cluster, namespace: str) -> None:
    """The cluster tier's tests write through the API client (a kubectl process each cost 0.14 s of
    CPU, docs/design/test-harness.md); what they assert on stays what kubectl shows."""
    # A refused create: kubectl prints the server's message (`The LiveStream "x" is invalid: ...`).
    bad = BAD[0].manifest
    printed = cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(bad), check=False)
    with pytest.raises(ApiRefused) as refused:
        cluster.create(namespace, bad)
    assert printed.returncode != 0 and refused.value.status == 422
    assert refused.value.message.partition(" is invalid: ")[2] in printed.stderr, (refused.value.message, printed)
    # Strict field validation, as `kubectl create` asks for it: an unknown field is refused, not dropped.
    typo = {**STREAM, "metadata": {"name": "typo"}, "spec": {**STREAM["spec"], "titel": "x"}}  # type: ignore[dict-item]
    with pytest.raises(ApiRefused, match=r'unknown field "spec\.titel"'):
        cluster.create(namespace, typo)
    # Apply again without a field: gone, as with `kubectl apply`; a patch and a label in between kept.
    titled = {**STREAM, "spec": {**STREAM["spec"], "title": "Camera"}}  # type: ignore[dict-item]
    cluster.apply(namespace, titled)
    cluster.patch("lst", namespace, "cam", {"spec": {"dash": True}})
    cluster.label("lst", namespace, "cam", {"team": "news"})
    cluster.apply(namespace, STREAM)
    got = cluster.get("livestreams", namespace, "cam")
    assert got is not None and got["spec"].get("title") != "Camera", got
    assert got["spec"]["dash"] is True and got["metadata"]["labels"]["team"] == "news", got
    # Delete and wait, as `kubectl delete` waits by default.
    cluster.delete("lst", namespace, "cam", wait=True)
    assert cluster.get("livestreams", namespace, "cam") is None
    cluster.delete("lst", namespace, "cam", missing_ok=True)
    with pytest.raises(ApiRefused) as missing:
        cluster.delete("lst", namespace, "cam")
    assert missing.value.status == 404
