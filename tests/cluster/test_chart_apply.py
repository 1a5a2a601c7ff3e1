"""The chart against the real API server of the cluster suite: server-side dry-run apply of the
rendering for default and non-default values, PodSecurity `restricted` for the operator Pod, the
NOTES a `helm install` prints. Nothing shared is changed (the session's operator runs under its
own ServiceAccount and ClusterRole `streamops`): real installs happen on a private control plane
in test_chart_install.py."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from devtools.chart import CHART, VALUES_DIR, find, helm, objects, render
from devtools.cluster.suite import Cluster

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}
# Just enough of the Prometheus Operator's CRD for the API server to accept a ServiceMonitor.
SERVICEMONITOR_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {"kind": "ServiceMonitor", "plural": "servicemonitors", "singular": "servicemonitor"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def make_namespace(cluster: Cluster, name: str, labels: dict[str, str]) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(ns))


@pytest.fixture
def restricted_ns(cluster: Cluster) -> Iterator[str]:
    name = f"r-{uuid.uuid4().hex[:8]}"
    make_namespace(cluster, name, RESTRICTED)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def dry_run(cluster: Cluster, manifest: str) -> tuple[int, str]:
    result = cluster.kubectl(
        # --force-conflicts: the CRDs are already there (applied client-side from crds/) and an
        # upgrade takes them over, as helm does.
        "apply", "--server-side", "--force-conflicts", "--field-manager=helm-test", "--dry-run=server", "-f", "-",
        input=manifest, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("values", ["default", "custom.yaml"])
def test_rendered_chart_is_accepted_server_side(cluster: Cluster, restricted_ns: str, values: str) -> None:
    files = [] if values == "default" else [VALUES_DIR / values]
    manifest = render(*files, namespace=restricted_ns)
    objs = objects(manifest)
    created: list[str] = []
    if values != "default":
        for ns in ("studio-a", "studio-b"):  # the custom values watch these: Roles go in them
            make_namespace(cluster, ns, {})
            created.append(ns)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(SERVICEMONITOR_CRD))
        cluster.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com")
    try:
        code, out = dry_run(cluster, manifest)
        assert code == 0, out
        # Every object went through the server (admission, schema validation, RBAC escalation checks).
        for o in objs:
            assert f"{o['metadata']['name']} serverside-applied (server dry run)" in out, (o["kind"], out)
        assert "would violate PodSecurity" not in out, out
        assert find(objs, "ServiceMonitor") == ([] if values == "default" else find(objs, "ServiceMonitor"))
    finally:
        for ns in created:
            cluster.kubectl("delete", "namespace", ns, "--wait=false")
        if values != "default":
            cluster.kubectl("delete", "crd", "servicemonitors.monitoring.coreos.com", "--wait=false")


def operator_pod(deployment: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator-pod-check", "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def test_operator_pod_is_restricted(cluster: Cluster, restricted_ns: str) -> None:
    """PodSecurity enforces on Pods (on Deployments it only warns): create the operator's Pod
    template as a Pod (server dry run) in a namespace enforcing `restricted`; a weakened copy is
    refused, so the check can fail."""
    objs = objects(render(namespace=restricted_ns))
    (deployment,) = find(objs, "Deployment")
    cluster.apply(restricted_ns, *find(objs, "ServiceAccount"))  # the Pod's ServiceAccount must exist
    pod = operator_pod(deployment, restricted_ns)
    code, out = dry_run(cluster, yaml.safe_dump(pod))
    assert code == 0, out

    weak = copy.deepcopy(pod)
    del weak["spec"]["securityContext"]["seccompProfile"]
    weak["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    code, out = dry_run(cluster, yaml.safe_dump(weak))
    assert code != 0 and "violates PodSecurity" in out and "allowPrivilegeEscalation" in out, out


def test_notes_tell_how_to_create_a_first_livestream(cluster: Cluster) -> None:
    def notes(*args: str) -> str:
        # The CRDs exist without Helm's ownership (applied from crds/): leave them out of this release.
        result = helm(
            "install", "notes-check", str(CHART), "--dry-run=server", "--kubeconfig", str(cluster.kubeconfig),
            "--namespace", f"n-{uuid.uuid4().hex[:8]}", "--set", "crds.enabled=false", *args,
        )  # fmt: skip
        return result.stdout.split("NOTES:", 1)[1]

    default = notes()
    assert "kind: LiveStream" in default
    assert "kubectl get lst my-first-stream" in default
    assert "watching every namespace" in default
    narrow = notes("-f", str(VALUES_DIR / "custom.yaml"), "--set", "metrics.serviceMonitor.enabled=false")
    assert "watching: studio-a, studio-b" in narrow and "kubectl apply -n studio-a" in narrow
    assert "host networking (ports 40000-40099" in narrow and "host networking" not in default
