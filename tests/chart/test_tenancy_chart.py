"""The chart's tenancy values (docs/design/tenancy.md) reach the operator, and a namespaced install
(`watchNamespaces`) grants nothing of a namespace cluster-wide: every rule on a namespaced resource
is a Role's, the ClusterRole keeps kopf's discovery, the nodes, the cluster-scoped ClusterQualitySets (and, with
hostNetwork only, the host-port list)."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.chart import CHART, find, helm, objects, render
from streamops.control.shared.settings import DEFAULT_ALLOWED_ANNOTATIONS, ENV_PREFIX, OperatorSettings

# Cluster-scoped reads kopf needs in a namespaced install: the resources it serves (a CRD installed
# later, such as the Gateway API's, is picked up without a restart) and the namespaces it watches;
# and the nodes (list, watch), which placement and the drain signal read (handover.md).
DISCOVERY = {("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces"), ("", "nodes")}
HOST_PORTS = {("", "pods"), ("", "services")}  # list only, with worker.hostNetwork: host ports are per node
# Cluster-scoped, of no namespace: the sets every stream may name, the default one created when missing.
CLUSTER_SETS = {
    ("streaming.streamops.dev", "clusterqualitysets"): {"list", "watch", "create"},
    ("streaming.streamops.dev", "clusterqualitysets/status"): {"patch"},
}


def settings_of(objs: list[dict[str, Any]]) -> OperatorSettings:
    (deployment,) = find(objs, "Deployment")
    env = {
        e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e
    }
    return OperatorSettings.from_env({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})


def test_the_defaults_are_the_operators_and_closed() -> None:
    settings = settings_of(objects(render()))
    assert settings.tenancy.allowed_annotations == list(DEFAULT_ALLOWED_ANNOTATIONS)
    default = OperatorSettings()
    assert settings == settings.model_copy(
        update={
            "tenancy": settings.tenancy.model_copy(update={"allowed_annotations": default.tenancy.allowed_annotations})
        }
    )
    assert not settings.tenancy.playback_path_any_prefix
    assert not settings.tenancy.allow_load_balancer
    assert not settings.tenancy.allow_node_port and not settings.tenancy.allow_fixed_node_ports
    assert settings.tenancy.require_secret_label


def test_an_admin_opens_what_they_choose() -> None:
    sets = (
        "tenancy.playbackPathAnyPrefix=true",
        "tenancy.allowedAnnotations={cert-manager.io/*,service.beta.kubernetes.io/aws-load-balancer-*}",
        "tenancy.allowLoadBalancer=true",
        "tenancy.allowNodePort=true",
        "tenancy.allowFixedNodePorts=true",
        "tenancy.requireSecretLabel=false",
    )
    settings = settings_of(objects(render(sets=sets)))
    assert settings.tenancy.playback_path_any_prefix and settings.tenancy.allow_load_balancer
    assert settings.tenancy.allow_node_port and settings.tenancy.allow_fixed_node_ports
    assert settings.tenancy.allowed_annotations == [
        "cert-manager.io/*",
        "service.beta.kubernetes.io/aws-load-balancer-*",
    ]
    assert not settings.tenancy.require_secret_label


@pytest.mark.parametrize(
    "bad",
    [
        "tenancy.allowLoadBalancer=maybe",
        "tenancy.allowNodePort=maybe",
        "tenancy.allowFixedNodePorts=1",
        "tenancy.allowedAnnotations={a b}",
        "tenancy.other=1",
    ],
)
def test_the_schema_refuses_bad_tenancy_values(bad: str) -> None:
    refused = helm("template", "streamops", str(CHART), "--set", bad, check=False)
    assert refused.returncode != 0 and "/tenancy" in refused.stderr


def rules(role: dict[str, Any]) -> set[tuple[str, str]]:
    return {(group, r) for rule in role["rules"] for group in rule["apiGroups"] for r in rule["resources"]}


@pytest.mark.parametrize("host_network", [False, True])
def test_a_namespaced_install_grants_namespaced_roles_only(host_network: bool) -> None:
    sets = ("watchNamespaces={studio-a,studio-b}", f"worker.hostNetwork={str(host_network).lower()}")
    objs = objects(render(sets=sets))
    (cluster_role,) = find(objs, "ClusterRole")
    assert rules(cluster_role) == DISCOVERY | set(CLUSTER_SETS) | (HOST_PORTS if host_network else set())
    for rule in cluster_role["rules"]:
        keys = {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
        allowed = (
            {"list"}
            if keys <= HOST_PORTS
            else set().union(*(CLUSTER_SETS[k] for k in keys))
            if keys <= set(CLUSTER_SETS)
            else {"list", "watch"}
        )
        assert set(rule["verbs"]) <= allowed, rule
    (binding,) = find(objs, "ClusterRoleBinding")
    assert (
        binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    )
    # Secrets, Pods, Services, Deployments, ConfigMaps: in each watched namespace's Role only.
    roles = {
        r["metadata"]["namespace"]: r for r in find(objs, "Role") if "leader-election" not in r["metadata"]["name"]
    }
    assert sorted(roles) == ["studio-a", "studio-b"]
    for role in roles.values():
        assert {("", "secrets"), ("", "pods"), ("", "services"), ("apps", "deployments"), ("", "configmaps")} <= rules(
            role
        )
    assert sorted(b["metadata"]["namespace"] for b in find(objs, "RoleBinding") if b["roleRef"]["kind"] == "Role") == [
        "streamops-system",  # the leader election Lease
        "studio-a",
        "studio-b",
    ]
