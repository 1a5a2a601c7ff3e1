"""The Prometheus Operator add-on as objects (devtools.cluster.prometheus_operator): its Pod passes
PodSecurity `restricted`, its Prometheus selects every monitor and rule, the RBAC is upstream's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devtools.cluster import prometheus_operator

from tests.unit.devtools.cluster.test_addons import assert_restricted, by_kind, covers, one


def pod_spec(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = next(o for o in by_kind(objects, "Deployment") if o["metadata"]["name"] == name)
    return dict(deployment["spec"]["template"]["spec"])


def test_prometheus_release_of_the_module_version() -> None:
    assert prometheus_operator.prometheus_release("v0.316.0") == "v3.16.0"
    assert prometheus_operator.prometheus_release("v0.305.1") == "v3.5.1"


def test_prometheus_operator_crds_read_as_kubernetes_reads_them(tmp_path: Path) -> None:
    # AlertmanagerConfig's matchType enum has a plain `=`, which PyYAML's safe loader refuses.
    crd = tmp_path / "crd.yaml"
    crd.write_text("enum:\n- '!='\n- =\n- =~\n---\n---\nkind: CustomResourceDefinition\n")
    assert prometheus_operator.load_crds([crd]) == [{"enum": ["!=", "=", "=~"]}, {"kind": "CustomResourceDefinition"}]


def test_prometheus_operator_objects() -> None:
    rules = [{"apiGroups": ["monitoring.coreos.com"], "resources": ["prometheuses"], "verbs": ["*"]}]
    objects = prometheus_operator.operator_manifests("op:1", "reloader:2", rules)
    assert one(objects, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    spec = pod_spec(objects, "prometheus-operator")
    assert_restricted(spec)
    assert "--prometheus-config-reloader=reloader:2" in spec["containers"][0]["args"]
    assert one(objects, "ClusterRole")["rules"] == rules


def test_the_operators_prometheus_selects_every_monitor_and_rule() -> None:
    objects = prometheus_operator.prometheus_manifests("prom:3", "v3.16.0", [])
    spec = one(objects, "Prometheus")["spec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}Selector"] == {} and spec[f"{kind}NamespaceSelector"] == {}
    assert spec["image"] == "prom:3" and spec["version"] == "v3.16.0" and spec["imagePullPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (prometheus,) = spec["containers"]  # merged into the operator's: Ready within a second of /-/ready
    assert prometheus["name"] == "prometheus" and prometheus["startupProbe"]["periodSeconds"] == 1, prometheus
    service = one(objects, "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "prometheus", "prometheus": "streamops"}
    assert service["metadata"]["name"] == "prometheus"  # where ClusterPrometheus.url looks


def test_upstream_rbac_of_the_pinned_operator() -> None:
    operator_rules = prometheus_operator.upstream_rules("prometheus-operator-cluster-role.yaml")
    assert covers(operator_rules, "apps", "statefulsets", {"*"})
    assert covers(operator_rules, "monitoring.coreos.com", "prometheuses/status", {"*"})
    upstream = prometheus_operator.upstream_rules("prometheus-cluster-role.yaml")
    prometheus_rules = [r for r in upstream if "apiGroups" in r]  # (not the nonResourceURLs one)
    assert covers(prometheus_rules, "", "endpoints", {"get", "list", "watch"})
    assert covers(prometheus_rules, "discovery.k8s.io", "endpointslices", {"get", "list", "watch"})
