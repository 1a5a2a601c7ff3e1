"""metrics-server on the local multi-node cluster (devtools.cluster.local_cluster): the resource metrics API
(metrics.k8s.io) that `kubectl top` and HorizontalPodAutoscalers read, built from its Go module
(hack/build-metrics-server.sh) and installed the way its upstream manifests (manifests/base in the
module) install it. What it needs from the cluster and why: docs/design/local-cluster.md, "Add-ons".

    server = MetricsServer(cluster)
    server.install()              # images into the nodes, certificates, objects; waits until both nodes have metrics
    server.node_metrics()         # {"node-1": {"cpu": "153m", "memory": "1021Mi"}, ...}
    server.pod_metrics(namespace) # {"<pod>": {"cpu": ..., "memory": ...}}
    server.remove()

    python -m devtools.cluster.metrics_server install --dir .cluster   # onto `make cluster-up NODES=2`

The kubelets here serve certificates signed by the cluster's CA for their node name and LAN address
(devtools.cluster.node), so metrics-server verifies them with that CA: no --kubelet-insecure-tls. They
accept client certificates only (no webhook token authentication), so metrics-server gets one of its
own, signed by the same CA. Its own serving certificate is signed by the cluster's CA too, and the
APIService carries that CA (upstream's manifest skips the verification: insecureSkipTLSVerify).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devtools.cluster.addons import restricted_container_security, restricted_pod_security
from devtools.cluster.images import ADDON_UID, Image
from devtools.cluster.local_cluster import LocalCluster
from devtools.pki import CLIENT, ensure_leaves
from devtools.waits import eventually

Obj = dict[str, Any]

NAMESPACE = "kube-system"
NAME = "metrics-server"
API_GROUP = "metrics.k8s.io"
API_SERVICE = f"v1beta1.{API_GROUP}"
PORT = 10250  # in the Pod, as upstream's manifest (its own network namespace: no clash with the kubelet's)
CERTS = "metrics-server-certs"
CERTS_DIR = "/etc/metrics-server"
# How often it scrapes the kubelets (upstream's manifest: 15 s; the minimum is 10 s, what the tests use:
# an HPA's first reading of a new Pod and its reading after a load ends come ≈ 5-10 s sooner).
METRIC_RESOLUTION = "15s"
MIN_RESOLUTION = "10s"
# metrics-server refuses a resolution not above its kubelet request timeout (default 10 s): 9 s lets
# the minimum through, and a kubelet that takes 9 s to answer has missed that scrape anyway.
KUBELET_REQUEST_TIMEOUT = "9s"
LABELS = {"k8s-app": NAME, "app.kubernetes.io/part-of": "streamops-local-cluster"}
# The leaves it gets from the cluster's CA (devtools.pki), by file name in the control plane's pki/.
SERVING_LEAF = "metrics-server"
KUBELET_CLIENT_LEAF = "metrics-server-kubelet-client"


def service_names(namespace: str = NAMESPACE) -> list[str]:
    """The names the API server may verify the serving certificate for (it dials <svc>.<ns>.svc)."""
    return [f"{NAME}.{namespace}.svc", f"{NAME}.{namespace}.svc.cluster.local", f"{NAME}.{namespace}", NAME]


def metrics_server_args(resolution: str = METRIC_RESOLUTION) -> list[str]:
    return [
        f"--secure-port={PORT}",
        "--cert-dir=/tmp",
        f"--tls-cert-file={CERTS_DIR}/tls.crt",
        f"--tls-private-key-file={CERTS_DIR}/tls.key",
        # The kubelets: their serving certificates verified with the cluster's CA, at the address the
        # certificates name (InternalIP: the node's LAN address), on the port each node reports.
        f"--kubelet-certificate-authority={CERTS_DIR}/kubelet-ca.crt",
        f"--kubelet-client-certificate={CERTS_DIR}/kubelet-client.crt",
        f"--kubelet-client-key={CERTS_DIR}/kubelet-client.key",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        f"--metric-resolution={resolution}",
        f"--kubelet-request-timeout={KUBELET_REQUEST_TIMEOUT}",
    ]


def metrics_server_manifests(
    image: str,
    *,
    serving: tuple[str, str],
    kubelet_client: tuple[str, str],
    ca: str,
    namespace: str = NAMESPACE,
    resolution: str = METRIC_RESOLUTION,
) -> list[Obj]:
    """Upstream's objects (manifests/base of the module: RBAC, Service, Deployment, APIService) with
    this cluster's certificates: `serving` and `kubelet_client` are (certificate, key) PEM, `ca` the
    cluster CA's certificate PEM (it signed the kubelets' serving certificates and both of these)."""
    meta: Obj = {"namespace": namespace, "labels": LABELS}
    selector = {"k8s-app": NAME}
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "Never",
        "args": metrics_server_args(resolution),
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/livez", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "certs", "mountPath": CERTS_DIR, "readOnly": True},
        ],
    }
    role_meta = {"labels": LABELS}
    account = {"kind": "ServiceAccount", "name": NAME, "namespace": namespace}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": "system:aggregated-metrics-reader",
                "labels": {
                    **LABELS,
                    "rbac.authorization.k8s.io/aggregate-to-view": "true",
                    "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                    "rbac.authorization.k8s.io/aggregate-to-admin": "true",
                },
            },
            "rules": [{"apiGroups": [API_GROUP], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:metrics-server", **role_meta},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:metrics-server", **role_meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:metrics-server",
            },
            "subjects": [account],
        },
        # Delegated authentication and authorization of what the API server proxies to it.
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "metrics-server:system:auth-delegator", **role_meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:auth-delegator",
            },
            "subjects": [account],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "metrics-server-auth-reader", "namespace": "kube-system", **role_meta},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": [account],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": CERTS, **meta},
            "stringData": {
                "tls.crt": serving[0],
                "tls.key": serving[1],
                "kubelet-client.crt": kubelet_client[0],
                "kubelet-client.key": kubelet_client[1],
                "kubelet-ca.crt": ca,
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {**LABELS, **selector}},
                    "spec": {
                        "serviceAccountName": NAME,
                        "priorityClassName": "system-cluster-critical",
                        # The Secret's files are root's, readable by the Pod's group (mode 0440).
                        "securityContext": {**restricted_pod_security(), "fsGroup": ADDON_UID},
                        "containers": [container],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {}},
                            {"name": "certs", "secret": {"secretName": CERTS, "defaultMode": 0o440}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, **meta},
            "spec": {
                "selector": selector,
                "ports": [
                    {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP", "appProtocol": "https"}
                ],
            },
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": API_SERVICE, "labels": LABELS},
            "spec": {
                "service": {"name": NAME, "namespace": namespace, "port": 443},
                "group": API_GROUP,
                "version": "v1beta1",
                "caBundle": base64.b64encode(ca.encode()).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


def ensure_certificates(pki: Path, namespace: str = NAMESPACE) -> tuple[tuple[str, str], tuple[str, str], str]:
    """(serving cert, key), (kubelet client cert, key) and the CA, signed by the cluster's CA in `pki`
    when missing (kept with the control plane's other leaves)."""
    sans = ",".join(f"DNS:{n}" for n in service_names(namespace))
    serving_ext = (
        f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName={sans}\n"
    )
    ensure_leaves(
        pki,
        {
            SERVING_LEAF: (f"/CN={NAME}.{namespace}.svc", serving_ext),
            KUBELET_CLIENT_LEAF: ("/CN=system:metrics-server", CLIENT),
        },
    )

    def pair(leaf: str) -> tuple[str, str]:
        return (pki / f"{leaf}.crt").read_text(), (pki / f"{leaf}.key").read_text()

    return pair(SERVING_LEAF), pair(KUBELET_CLIENT_LEAF), (pki / "ca.crt").read_text()


# -- on the cluster ------------------------------------------------------------------------------


class MetricsServer:
    def __init__(self, cluster: LocalCluster, resolution: str = METRIC_RESOLUTION) -> None:
        self.cluster = cluster
        self.resolution = resolution
        self.install_seconds = 0.0
        self._began = time.monotonic()

    @property
    def image(self) -> Image:
        return self.cluster.builder.metrics_server()

    def install(self, timeout: float = 180) -> None:
        """Import the image, apply the objects, wait until the API serves every node's metrics."""
        self.start()
        self.wait_ready(timeout)

    def start(self) -> None:
        """Import the image and apply the objects, without waiting: a test can start its own work
        while metrics-server comes up, then wait_ready()."""
        self._began = time.monotonic()
        self.cluster.import_images([self.image])
        serving, client, ca = ensure_certificates(self.cluster.plane.pki)
        self.cluster.apply_objects(
            metrics_server_manifests(
                self.image.short, serving=serving, kubelet_client=client, ca=ca, resolution=self.resolution
            )
        )

    def wait_ready(self, timeout: float = 180) -> None:
        """The APIService Available, then metrics for every node (the first CPU figure needs two
        scrapes: up to twice the resolution after the Pod starts). install_seconds: from start()
        until then, the first time."""
        if self.install_seconds:
            return
        try:
            self.cluster.rollout(NAMESPACE, NAME, timeout=timeout)
            eventually(self._available, timeout=timeout, interval=1, what=f"APIService {API_SERVICE} Available")
            nodes = {n.name for n in self.cluster.nodes}
            eventually(
                lambda: nodes <= self.node_metrics().keys(), timeout=timeout, interval=2, what="metrics of every node"
            )
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose()}") from None
        self.install_seconds = time.monotonic() - self._began

    def _available(self) -> bool:
        try:
            service = self.cluster.get("apiservices", "", API_SERVICE) or {}
        except AssertionError:  # the server not answering
            service = {}
        return any(
            c["type"] == "Available" and c["status"] == "True"
            for c in (service.get("status") or {}).get("conditions", [])
        )

    def _raw(self, path: str) -> Obj:
        """`kubectl get --raw` through the API client; {} while metrics.k8s.io serves nothing."""
        try:
            return dict(self.cluster.reads().send("GET", f"/apis/{API_GROUP}/v1beta1/{path}", None) or {})
        except AssertionError:
            return {}

    def node_metrics(self) -> dict[str, dict[str, str]]:
        """Node name -> its usage (cpu, memory) as metrics.k8s.io serves it; {} while it serves none."""
        return {i["metadata"]["name"]: dict(i["usage"]) for i in self._raw("nodes").get("items", [])}

    def pod_metrics(self, namespace: str) -> dict[str, dict[str, str]]:
        """Pod name -> its containers' summed usage (cpu in millicores as "<n>m", memory as served)."""
        out: dict[str, dict[str, str]] = {}
        for item in self._raw(f"namespaces/{namespace}/pods").get("items", []):
            cpu = sum(millicores(c["usage"]["cpu"]) for c in item.get("containers", []))
            out[item["metadata"]["name"]] = {"cpu": f"{cpu}m"}
        return out

    def diagnose(self) -> str:
        k = self.cluster.kubectl
        return "\n".join([
            k("get", "apiservice", API_SERVICE, "-o", "yaml", check=False).stdout[-2000:],
            k("get", "pods", "-n", NAMESPACE, "-l", f"k8s-app={NAME}", "-o", "wide", check=False).stdout,
            k("logs", "-n", NAMESPACE, f"deployment/{NAME}", "--tail=30", check=False).stdout,
        ])  # fmt: skip

    def remove(self) -> None:
        k = self.cluster.kubectl
        k("delete", "apiservice", API_SERVICE, "--ignore-not-found")
        k("delete", "-n", NAMESPACE, "deployment,service,secret,serviceaccount,rolebinding", "-l", f"k8s-app={NAME}",
          "--ignore-not-found")  # fmt: skip
        k("delete", "clusterrole,clusterrolebinding", "-l", f"k8s-app={NAME}", "--ignore-not-found")


def millicores(quantity: str) -> int:
    """A CPU quantity as metrics.k8s.io writes it (n, u, m suffixes or cores) in millicores."""
    units = {"n": 1e-6, "u": 1e-3, "m": 1.0}
    if quantity and quantity[-1] in units:
        return round(float(quantity[:-1]) * units[quantity[-1]])
    return round(float(quantity) * 1000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("cmd", choices=("install", "remove", "status"))
    parser.add_argument(
        "--dir", type=Path, required=True, help="the cluster's state directory (make cluster-up NODES=2)"
    )
    args = parser.parse_args(argv)
    server = MetricsServer(LocalCluster(args.dir))
    if args.cmd == "install":
        server.install()
        print(f"# metrics-server ready in {server.install_seconds:.1f}s", file=sys.stderr)
    elif args.cmd == "remove":
        server.remove()
    print(json.dumps(server.node_metrics(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
