"""The local cluster's add-on manifests (devtools.cluster.addons): CoreDNS answers the cluster domain only,
with nothing that forwards; Traefik's RBAC covers what its two providers read; every Pod is
PodSecurity `restricted`; the Gateway API CRDs are the standard channel of the pinned version."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.cluster import addons
from devtools.versions import sourced

DNS_IP = "10.243.0.10"


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = by_kind(objects, kind)
    return found


def assert_restricted(pod_spec: dict[str, Any]) -> None:
    """The checks of PodSecurity `restricted` (v1.33) that these Pods could fail."""
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod_spec.get("hostNetwork") and not pod_spec.get("hostPID") and not pod_spec.get("hostIPC")
    for volume in pod_spec.get("volumes", []):
        assert "hostPath" not in volume
    for c in pod_spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["runAsUser"] != 0 and sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert not sc.get("privileged")
        for port in c.get("ports", []):
            assert port["containerPort"] > 1023  # no NET_BIND_SERVICE needed
            assert "hostPort" not in port
        assert c["imagePullPolicy"] == "Never"  # the image was imported, never pulled


def covers(rules: list[dict[str, Any]], group: str, resource: str, verbs: set[str]) -> bool:
    granted: set[str] = set()
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            granted |= set(rule["verbs"])
    return verbs <= granted


# -- CoreDNS ----------------------------------------------------------------------------------


def test_corefile_serves_the_cluster_domain_and_never_forwards() -> None:
    corefile = addons.corefile("cluster.local", ["10.243.0.0/16", "10.242.0.0/16"])
    words = corefile.split()
    assert "forward" not in words and "proxy" not in words and "grpc" not in words
    assert "kubernetes cluster.local 243.10.in-addr.arpa 242.10.in-addr.arpa {" in corefile
    assert "rcode NXDOMAIN" in corefile  # every other name: a clean NXDOMAIN, no upstream asked
    assert ".:1053 {" in corefile
    assert "health :8080" in corefile and "ready :8181" in corefile


@pytest.mark.parametrize(
    ("cidr", "zone"),
    [
        ("10.243.0.0/16", "243.10.in-addr.arpa"),
        ("10.242.1.0/24", "1.242.10.in-addr.arpa"),
        ("10.96.0.0/12", "10.in-addr.arpa"),  # rounded out to the octet
        ("fd00:10:96::/48", "6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa"),
    ],
)
def test_reverse_zones(cidr: str, zone: str) -> None:
    assert addons.reverse_zones([cidr]) == [zone]


def test_coredns_objects() -> None:
    objects = addons.coredns_manifests("streamops-coredns:abc", DNS_IP, "cluster.local")
    kinds = [o["kind"] for o in objects]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"]
    svc = one(objects, "Service")
    assert svc["metadata"] == svc["metadata"] | {"name": "kube-dns", "namespace": "kube-system"}
    assert svc["spec"]["clusterIP"] == DNS_IP
    assert {(p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]} == {
        (53, 1053, "UDP"),
        (53, 1053, "TCP"),
    }
    deploy = one(objects, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert svc["spec"]["selector"] == deploy["spec"]["template"]["metadata"]["labels"]
    assert pod["containers"][0]["image"] == "streamops-coredns:abc"
    assert pod["dnsPolicy"] == "Default"  # not itself
    assert_restricted(pod)
    corefile = one(objects, "ConfigMap")["data"]["Corefile"]
    assert "forward" not in corefile
    mount = pod["containers"][0]["volumeMounts"][0]["mountPath"]
    assert pod["containers"][0]["args"] == ["-conf", f"{mount}/Corefile"]


def test_coredns_rbac_covers_the_kubernetes_plugin() -> None:
    objects = addons.coredns_manifests("img:1", DNS_IP)
    rules = one(objects, "ClusterRole")["rules"]
    for group, resource in [("", "services"), ("", "pods"), ("", "namespaces"), ("discovery.k8s.io", "endpointslices")]:
        assert covers(rules, group, resource, {"list", "watch"}), resource
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]
    assert binding["roleRef"]["name"] == one(objects, "ClusterRole")["metadata"]["name"]


def test_coredns_domain_parameter() -> None:
    objects = addons.coredns_manifests("img:1", "10.0.0.10", "example.internal", reverse_cidrs=["10.0.0.0/24"])
    corefile = one(objects, "ConfigMap")["data"]["Corefile"]
    assert "kubernetes example.internal 0.0.10.in-addr.arpa {" in corefile


# -- Traefik ----------------------------------------------------------------------------------


def test_traefik_objects() -> None:
    objects = addons.traefik_manifests("streamops-traefik:abc", node_port=30080)
    assert objects[0]["kind"] == "Namespace"  # first: everything else lives in it
    assert objects[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    svc = one(objects, "Service")
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["ports"][0]["nodePort"] == 30080
    # The viewer's own address reaches Traefik: never masqueraded, so a Traefik on every node.
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    daemons = one(objects, "DaemonSet")
    pod = daemons["spec"]["template"]["spec"]
    assert svc["spec"]["selector"] == daemons["spec"]["template"]["metadata"]["labels"]
    assert not any("forwardedheaders" in a.lower() for a in pod["containers"][0]["args"]), "no client's X-Forwarded-*"
    assert_restricted(pod)
    assert one(objects, "IngressClass")["spec"]["controller"] == "traefik.io/ingress-controller"
    assert one(objects, "GatewayClass")["spec"]["controllerName"] == "traefik.io/gateway-controller"
    gateway = one(objects, "Gateway")
    (listener,) = gateway["spec"]["listeners"]
    assert listener["protocol"] == "HTTP"
    assert listener["allowedRoutes"] == {"namespaces": {"from": "All"}}
    # Traefik attaches a listener to the entrypoint of the same port.
    assert f"--entrypoints.web.address=:{listener['port']}" in pod["containers"][0]["args"]
    assert gateway["spec"]["gatewayClassName"] == one(objects, "GatewayClass")["metadata"]["name"]


def test_traefik_never_phones_home() -> None:
    args = addons.traefik_args()
    assert "--global.checknewversion=false" in args
    assert "--global.sendanonymoususage=false" in args
    assert not any(a.startswith(("--api", "--experimental.plugins", "--tracing", "--metrics")) for a in args)
    assert "--providers.kubernetesingress=true" in args and "--providers.kubernetesgateway=true" in args
    assert "--ping=true" in args


def test_traefik_status_address() -> None:
    args = addons.traefik_args(status_address="10.241.0.11")
    assert "--providers.kubernetesingress.ingressendpoint.ip=10.241.0.11" in args
    assert "--providers.kubernetesgateway.statusaddress.ip=10.241.0.11" in args


def test_traefik_rbac_covers_both_providers() -> None:
    rules = one(addons.traefik_manifests("img:1", 30080), "ClusterRole")["rules"]
    read = {"get", "list", "watch"}
    for group, resource in [
        ("", "services"),
        ("", "secrets"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        *[("gateway.networking.k8s.io", r) for r in ("gatewayclasses", "gateways", "httproutes", "referencegrants")],
    ]:
        assert covers(rules, group, resource, read), resource
    for group, resource in [("", "namespaces"), ("", "nodes")]:
        assert covers(rules, group, resource, {"list", "watch"}), resource
    assert covers(rules, "networking.k8s.io", "ingresses/status", {"update"})
    for r in ("gatewayclasses", "gateways", "httproutes"):
        assert covers(rules, "gateway.networking.k8s.io", f"{r}/status", {"update"})
    # Read-only otherwise: no create/delete/patch anywhere.
    assert all(set(rule["verbs"]) <= read | {"update"} for rule in rules)
    assert all(rule["verbs"] != ["update"] or all(r.endswith("/status") for r in rule["resources"]) for rule in rules)


def test_default_ingress_class() -> None:
    plain = one(addons.traefik_manifests("img:1", 30080), "IngressClass")
    assert "annotations" not in plain["metadata"]
    default = one(addons.traefik_manifests("img:1", 30080, default_class=True), "IngressClass")
    assert default["metadata"]["annotations"] == {"ingressclass.kubernetes.io/is-default-class": "true"}


# -- Gateway API CRDs ----------------------------------------------------------------------------


def test_gateway_api_crds_are_the_pinned_standard_channel() -> None:
    version = sourced("GATEWAY_API_VERSION")
    objects = addons.gateway_api_manifests()
    crds = by_kind(objects, "CustomResourceDefinition")
    assert objects[: len(crds)] == crds  # CRDs first
    names = {c["spec"]["names"]["kind"] for c in crds}
    assert {"GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant"} <= names
    for crd in crds:
        annotations = crd["metadata"]["annotations"]
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"
        assert annotations["gateway.networking.k8s.io/bundle-version"] == version
    assert addons.gateway_api_manifests(crds_only=True) == crds
    # The CRDs the GatewayClass and Gateway objects of traefik_manifests need, at the version used.
    served = {(c["spec"]["names"]["kind"], v["name"]) for c in crds for v in c["spec"]["versions"] if v.get("served")}
    for obj in by_kind(addons.traefik_manifests("img:1", 30080), "Gateway") + by_kind(
        addons.traefik_manifests("img:1", 30080), "GatewayClass"
    ):
        assert (obj["kind"], obj["apiVersion"].rpartition("/")[2]) in served


def test_crds_lose_their_descriptions_and_nothing_else() -> None:
    # As upstream's stripped-down-crds.yaml: description texts go, a property named `description` (an
    # object: its schema) stays, and so do enums, defaults, required lists and validation rules.
    schema = {
        "description": "A Probe.",
        "type": "object",
        "required": ["description"],
        "x-kubernetes-validations": [{"rule": "self.a > 0", "message": "a", "messageExpression": "'a'"}],
        "properties": {
            "description": {"type": "string", "description": "what the user writes", "default": "x"},
            "mode": {"type": "string", "enum": ["description", "b"], "x-description": "also a description"},
            "items": {"type": "array", "items": [{"description": "d", "type": "string"}]},
        },
    }
    assert addons.without_descriptions(schema) == {
        "type": "object",
        "required": ["description"],
        "x-kubernetes-validations": [{"rule": "self.a > 0", "message": "a", "messageExpression": "'a'"}],
        "properties": {
            "description": {"type": "string", "default": "x"},
            "mode": {"type": "string", "enum": ["description", "b"]},
            "items": {"type": "array", "items": [{"type": "string"}]},
        },
    }
