"""The chart against the real API server of the cluster suite: server-side dry-run apply of the
rendering for default and non-default values, PodSecurity `restricted` for the operator Pod, the
NOTES a `helm install` prints. Nothing shared is changed (the session's operator runs under its
own ServiceAccount and ClusterRole `streamops`): real installs happen on a private control plane
in test_chart_install.py."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from devtools.chart import CHART, VALUES_DIR, find, helm, objects, render
from devtools.cluster.suite import Cluster
from devtools.versions import prometheus_operator_crds_dir
from streamops.api.kinds import LIVESTREAM

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/warn": "restricted",
}


def monitoring_crds() -> list[dict[str, Any]]:
    """The Prometheus Operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs (`make prometheus`
    fetches them): the dry run checks the chart's monitoring objects against their real schemas."""
    directory = prometheus_operator_crds_dir()
    files = sorted(directory.glob("monitoring.coreos.com_*.yaml"))
    assert len(files) == 3, f"{directory}: run `make prometheus` (hack/fetch-prometheus-operator-crds.sh)"
    return [yaml.safe_load(f.read_text()) for f in files]


def make_namespace(cluster: Cluster, name: str, labels: dict[str, str]) -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    cluster.apply("", ns)


@pytest.fixture
def restricted_ns(cluster: Cluster) -> Iterator[str]:
    name = f"r-{uuid.uuid4().hex[:8]}"
    make_namespace(cluster, name, RESTRICTED)
    yield name
    cluster.delete("namespace", "", name)


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
    crds = monitoring_crds() if values != "default" else []
    if values != "default":
        # The custom values watch studio-a/b (Roles go in them) and put the dashboards in grafana.
        for ns in ("studio-a", "studio-b", "grafana"):
            make_namespace(cluster, ns, {})
            created.append(ns)
        for crd in crds:
            cluster.apply("", crd)
            cluster.wait_established(crd["metadata"]["name"])
    try:
        code, out = dry_run(cluster, manifest)
        assert code == 0, out
        # Every object went through the server (admission, schema validation, RBAC escalation checks).
        for o in objs:
            assert f"{o['metadata']['name']} serverside-applied (server dry run)" in out, (o["kind"], out)
        assert "would violate PodSecurity" not in out, out
        monitoring = [o["kind"] for o in objs if o["apiVersion"] == "monitoring.coreos.com/v1"]
        if values == "default":
            assert monitoring == []
        else:  # accepted against the real CRDs' schemas
            assert sorted(monitoring) == ["PodMonitor", "PrometheusRule", "ServiceMonitor", "ServiceMonitor"]
    finally:
        for ns in created:
            cluster.delete("namespace", "", ns)
        for crd in crds:
            cluster.delete("crd", "", crd["metadata"]["name"])


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
    # The printer columns `kubectl get lst` shows (api/kinds.py), and where an encoder pushes.
    columns = ["NAME"] + [c["name"].upper() for c in LIVESTREAM.printer_columns if not c.get("priority")]
    assert f"# {'  '.join(columns)}" in default, columns
    assert "kubectl streamops push-url my-first-stream --show-key --obs" in default
    # The default ingest is ClusterIP: the NOTES say an encoder outside cannot push, and the two ways.
    assert "encoders outside the cluster cannot push" in default
    assert "--set ingest.service.type=NodePort --set ingest.externalHost=<node address>" in default
    assert "--set ingest.service.type=LoadBalancer" in default
    nodeport = notes("--set", "ingest.service.type=NodePort", "--set", "ingest.externalHost=203.0.113.10")
    assert "cannot push" not in nodeport and "push-url my-first-stream" in nodeport
    narrow = notes(
        "-f", str(VALUES_DIR / "custom.yaml"), "--set", "metrics.serviceMonitor.enabled=false",
        "--set", "metrics.prometheusRule.enabled=false", "--set", "metrics.grafanaDashboard.enabled=false",
    )  # fmt: skip
    assert "watching: studio-a, studio-b" in narrow and "kubectl apply -n studio-a" in narrow
    assert "host networking (ports 40000-40099" in narrow and "host networking" not in default
