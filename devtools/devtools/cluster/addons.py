"""The local cluster's add-ons as Kubernetes objects (pure functions: lists of dicts to apply): CoreDNS
(the cluster domain only, no upstream), Traefik (Ingress and Gateway API routes on a NodePort) and
the Gateway API CRDs, every Pod under PodSecurity `restricted`. What each is and why:
docs/design/local-cluster.md, "Add-ons".

    from devtools.cluster import addons
    builder = devtools.cluster.images.ImageBuilder()
    addons.coredns_manifests(builder.coredns().short, "10.243.0.10", "cluster.local",
                             reverse_cidrs=["10.243.0.0/16", "10.242.0.0/16"])  # PTR for Services, Pods
    addons.gateway_api_manifests()      # apply first, then wait for the CRDs to be Established
    addons.traefik_manifests(builder.traefik().short, node_port=30080)
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from devtools.cluster.images import ADDON_UID  # the uid the add-on images run as (no passwd entry needed)
from devtools.versions import REPO, gateway_api_crds_dir

Obj = dict[str, Any]

COREDNS_PORT = 1053  # inside the container: unprivileged; the Service maps 53 to it
COREDNS_HEALTH_PORT = 8080
COREDNS_READY_PORT = 8181
TRAEFIK_NAMESPACE = "traefik"
TRAEFIK_WEB_PORT = 8000
TRAEFIK_PING_PORT = 8082
INGRESS_CONTROLLER = "traefik.io/ingress-controller"
GATEWAY_CONTROLLER = "traefik.io/gateway-controller"


def restricted_container_security() -> Obj:
    """A container securityContext that PodSecurity `restricted` admits."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": ADDON_UID,
        "runAsGroup": ADDON_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": ADDON_UID,
        "runAsGroup": ADDON_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def reverse_zones(cidrs: Sequence[str]) -> list[str]:
    """The in-addr.arpa / ip6.arpa zones covering `cidrs`, rounded out to an octet (IPv4) or a
    nibble (IPv6) boundary: 10.243.0.0/16 -> 243.10.in-addr.arpa."""
    zones: list[str] = []
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        step = 8 if net.version == 4 else 4
        covering = net.supernet(new_prefix=net.prefixlen - net.prefixlen % step)
        labels = covering.network_address.reverse_pointer.split(".")
        # reverse_pointer names the address (4 octets or 32 nibbles); keep the prefix's labels.
        keep = covering.prefixlen // step
        zone = ".".join(labels[len(labels) - 2 - keep :])
        if zone not in zones:
            zones.append(zone)
    return zones


def corefile(
    domain: str = "cluster.local",
    reverse_cidrs: Sequence[str] = (),
    port: int = COREDNS_PORT,
    *,
    health_port: int = COREDNS_HEALTH_PORT,
    ready_port: int = COREDNS_READY_PORT,
    bind: str | None = None,
    kubeconfig: str | None = None,
) -> str:
    """Two server blocks. The cluster domain (and the reverse zones of `reverse_cidrs`): the
    kubernetes plugin. Every other name: NXDOMAIN from the template plugin (REFUSED or SERVFAIL
    would make resolvers retry or try another server). Two blocks, because CoreDNS runs plugins
    in its compiled-in order, where template comes before kubernetes: in one block the template
    would answer the cluster's names too.

    `bind` and `kubeconfig` are for CoreDNS as a host process (tests): in a Pod it listens on the
    Pod's address and reaches the API server with its ServiceAccount."""
    zones = [domain, *reverse_zones(reverse_cidrs)]
    host = bind or ""
    bind_line = [f"    bind {bind}"] if bind else []
    lines = [
        " ".join(f"{zone}:{port}" for zone in zones) + " {",
        *bind_line,
        "    errors",
        f"    kubernetes {' '.join(zones)} {{",
        *([f"        kubeconfig {kubeconfig}"] if kubeconfig else []),
        "        pods insecure",
        "        ttl 30",
        "    }",
        "    cache 30",
        "    loadbalance",
        "}",
        "# Any other name: nothing is asked, this cluster reaches no resolver outside it.",
        f".:{port} {{",
        *bind_line,
        "    errors",
        f"    health {host}:{health_port}",
        f"    ready {host}:{ready_port}",
        "    template ANY ANY {",
        "        rcode NXDOMAIN",
        "    }",
        "    reload",
        "}",
    ]
    return "\n".join(lines) + "\n"


def service_account_with_cluster_role(
    account: str, role: str, namespace: str, rules: Sequence[Obj], labels: Mapping[str, str]
) -> list[Obj]:
    """A ServiceAccount, a ClusterRole with `rules` and the binding of one to the other."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": namespace, "labels": dict(labels)},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role, "labels": dict(labels)},
            "rules": list(rules),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role, "labels": dict(labels)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]


def coredns_manifests(
    image: str,
    cluster_ip: str,
    domain: str = "cluster.local",
    *,
    reverse_cidrs: Sequence[str] = (),
    replicas: int = 2,
    namespace: str = "kube-system",
) -> list[Obj]:
    """CoreDNS behind the `kube-dns` Service at `cluster_ip` (the kubelets' --cluster-dns): two
    replicas on different nodes where there are two."""
    labels = {"k8s-app": "kube-dns"}
    part_of = {**labels, "app.kubernetes.io/part-of": "streamops-local-cluster"}
    meta: Obj = {"namespace": namespace, "labels": part_of}
    rules = [
        {"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]
    container = {
        "name": "coredns",
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"name": "dns", "containerPort": COREDNS_PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": COREDNS_PORT, "protocol": "TCP"},
            {"name": "health", "containerPort": COREDNS_HEALTH_PORT, "protocol": "TCP"},
            {"name": "ready", "containerPort": COREDNS_READY_PORT, "protocol": "TCP"},
        ],
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "health"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 5,
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "ready"}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    return [
        *service_account_with_cluster_role("coredns", "system:coredns", namespace, rules, part_of),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "coredns", **meta},
            "data": {"Corefile": corefile(domain, reverse_cidrs)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", **meta},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "priorityClassName": "system-cluster-critical",
                        # The node's resolv.conf, not the cluster DNS (itself): CoreDNS resolves
                        # nothing anyway, it reaches the API server by the kubernetes Service IP.
                        "dnsPolicy": "Default",
                        # One replica per node where possible, as kubeadm's CoreDNS: a lost node
                        # must not take cluster DNS with it (the operator's peers resolve Services).
                        "affinity": {
                            "podAntiAffinity": {
                                "preferredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "weight": 100,
                                        "podAffinityTerm": {
                                            "labelSelector": {"matchLabels": labels},
                                            "topologyKey": "kubernetes.io/hostname",
                                        },
                                    }
                                ]
                            }
                        },
                        "securityContext": restricted_pod_security(),
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                **meta,
                "labels": {**part_of, "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"},
            },
            "spec": {
                "selector": labels,
                "clusterIP": cluster_ip,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": COREDNS_PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": COREDNS_PORT, "protocol": "TCP"},
                ],
            },
        },
    ]


# What Traefik's two providers read and write: docs/content/reference/routing-configuration/
# kubernetes/ingress.md and docs/content/reference/dynamic-configuration/kubernetes-gateway-rbac.yml
# in the v3.7.13 module, plus `nodes` (the ingress provider's cluster-scope informer watches them
# unless disableClusterScopeResources, which would also drop IngressClass support).
GATEWAY_RESOURCES = (
    "gatewayclasses",
    "gateways",
    "httproutes",
    "grpcroutes",
    "tcproutes",
    "tlsroutes",
    "referencegrants",
    "backendtlspolicies",
)
TRAEFIK_RULES: list[Obj] = [
    {"apiGroups": [""], "resources": ["services", "secrets", "configmaps"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["namespaces", "nodes"], "verbs": ["list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "ingressclasses"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
    {
        "apiGroups": ["gateway.networking.k8s.io"],
        "resources": list(GATEWAY_RESOURCES),
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["gateway.networking.k8s.io"],
        "resources": [f"{r}/status" for r in GATEWAY_RESOURCES],
        "verbs": ["update"],
    },
]


def traefik_args(
    web_port: int = TRAEFIK_WEB_PORT,
    status_address: str | None = None,
    *,
    bind: str = "",
    ping_port: int = TRAEFIK_PING_PORT,
) -> list[str]:
    """Traefik's static configuration as flags: two entrypoints (web for traffic, ping for the
    probes), both providers, nothing that phones home (version check, anonymous usage) or serves
    a dashboard (its assets are not even built: hack/build-traefik.sh). `bind` is for Traefik as a
    host process (tests): 127.0.0.1. A Gateway listener attaches to the entrypoint whose address
    ends in `:<its port>`."""
    args = [
        f"--entrypoints.web.address={bind}:{web_port}",
        f"--entrypoints.ping.address={bind}:{ping_port}",
        "--ping=true",
        "--ping.entrypoint=ping",
        "--providers.kubernetesingress=true",
        "--providers.kubernetesgateway=true",
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
        "--log.level=INFO",
        "--log.nocolor=true",  # kubectl logs, not a terminal
    ]
    if status_address:  # what Ingress and Gateway status show as their address
        args += [
            f"--providers.kubernetesingress.ingressendpoint.ip={status_address}",
            f"--providers.kubernetesgateway.statusaddress.ip={status_address}",
        ]
    return args


def traefik_manifests(
    image: str,
    node_port: int,
    *,
    namespace: str = TRAEFIK_NAMESPACE,
    web_port: int = TRAEFIK_WEB_PORT,
    status_address: str | None = None,
    default_class: bool = False,
) -> list[Obj]:
    """Traefik serving Ingresses of class `traefik` and routes attached to the Gateway `traefik`
    (in `namespace`, listener `web` on `web_port`, routes from all namespaces), a Pod on every node
    at `node_port`. The Gateway API CRDs (gateway_api_manifests) must be Established first.

    The viewer's address reaches the routes' backends (docs/design/playback-rules.md, "Behind an
    ingress controller"): the Service's externalTrafficPolicy is Local, so kube-proxy hands each
    node's NodePort connections to that node's Traefik without masquerading them (hence a Pod on
    every node: a DaemonSet), and Traefik appends that address to X-Forwarded-For after dropping a
    client's own X-Forwarded-* (no forwardedHeaders.trustedIPs: nothing is in front of it)."""
    labels = {"app.kubernetes.io/name": "traefik"}
    part_of = {**labels, "app.kubernetes.io/part-of": "streamops-local-cluster"}
    meta: Obj = {"namespace": namespace, "labels": part_of}
    container = {
        "name": "traefik",
        "image": image,
        "imagePullPolicy": "Never",
        "args": traefik_args(web_port, status_address),
        "ports": [
            {"name": "web", "containerPort": web_port, "protocol": "TCP"},
            {"name": "ping", "containerPort": TRAEFIK_PING_PORT, "protocol": "TCP"},
        ],
        # A 150-viewer LL-HLS load beside two other tests' encoders got Traefik OOM-killed at a 256Mi
        # limit and its /ping past the default 1 s probe timeout: restarted twice and put in BackOff,
        # the NodePort without an endpoint (kube-proxy then refuses connections), every viewer stalled
        # 24-45 s (what looked like an edge Pod's deletion stalling viewers). Probes that a busy
        # 2-core machine does not fail, and room for the connections such a load holds.
        "readinessProbe": {
            "httpGet": {"path": "/ping", "port": "ping"},
            "periodSeconds": 2,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/ping", "port": "ping"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": 10,
            "failureThreshold": 6,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    ingress_class_meta: Obj = {"name": "traefik", "labels": part_of}
    if default_class:
        ingress_class_meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {**part_of, "pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        *service_account_with_cluster_role("traefik", "traefik", namespace, TRAEFIK_RULES, part_of),
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "traefik", **meta},
            "spec": {
                "selector": {"matchLabels": labels},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "traefik",
                        "securityContext": restricted_pod_security(),
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "traefik", **meta},
            "spec": {
                "type": "NodePort",
                # Never masqueraded: Traefik sees the LAN viewer's own address (see above).
                "externalTrafficPolicy": "Local",
                "selector": labels,
                "ports": [{"name": "web", "port": 80, "targetPort": "web", "nodePort": node_port, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": ingress_class_meta,
            "spec": {"controller": INGRESS_CONTROLLER},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "traefik", "labels": part_of},
            "spec": {"controllerName": GATEWAY_CONTROLLER},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "traefik", **meta},
            "spec": {
                "gatewayClassName": "traefik",
                # Traefik binds a listener to the entrypoint with the same port.
                "listeners": [
                    {
                        "name": "web",
                        "port": web_port,
                        "protocol": "HTTP",
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]


# -- Gateway API CRDs ------------------------------------------------------------------------


def gateway_api_crd_files(fetch: bool = True) -> list[Path]:
    """The standard channel's YAML files (CRDs, and the ValidatingAdmissionPolicy that refuses
    experimental CRDs over them), fetched into the cache by hack/fetch-gateway-api.sh when absent."""
    directory = gateway_api_crds_dir()
    if fetch and not (directory / ".complete").exists():
        proc = subprocess.run(
            ["bash", str(REPO / "hack/fetch-gateway-api.sh")], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"hack/fetch-gateway-api.sh failed: {proc.stderr.strip()}")
    return sorted(directory.glob("*.yaml"))


def gateway_api_manifests(*, crds_only: bool = False, fetch: bool = True) -> list[Obj]:
    """Every object of the standard channel (CustomResourceDefinitions first)."""
    objects: list[Obj] = []
    for path in gateway_api_crd_files(fetch):
        # libyaml's safe loader: the 1.1 MB took 2.4 s of CPU to read in pure Python, 0.23 s with it.
        objects += [doc for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if doc]
    if crds_only:
        objects = [o for o in objects if o.get("kind") == "CustomResourceDefinition"]
    return sorted(objects, key=lambda o: o.get("kind") != "CustomResourceDefinition")


def without_descriptions(node: Any) -> Any:
    """A CRD (any object) without its descriptions, as upstream's stripped-down form of the Prometheus
    Operator's CRDs (stripped-down-crds.yaml, its Makefile's jq filter): every key that contains
    "description" and does not hold an object goes, so a property named `description` (its schema)
    stays. Schemas, defaults, enums and validation rules are the same; only what `kubectl explain`
    prints is gone. The API server parses an apply's body as YAML, computes its managed fields and
    builds its OpenAPI from all of it: the Gateway API's CRDs are 0.73 MB as JSON, 0.20 MB without
    (applied at every multi-node cluster's boot), the Prometheus Operator's 2.36 MB, 0.61 MB without
    (docs/design/test-harness.md, "The 2-node cluster")."""
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if isinstance(v, dict) or "description" not in k}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node
