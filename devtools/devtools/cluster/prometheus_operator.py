"""The Prometheus Operator on the local multi-node cluster (devtools.cluster.local_cluster), built from its Go
module (hack/build-prometheus-operator.sh) with its config reloader, running a Prometheus (our build,
hack/build-prometheus.sh) that selects every ServiceMonitor, PodMonitor and PrometheusRule on the
cluster: the chart's monitoring objects reconciled by the real operator. Queried through
devtools.cluster.prometheus (it is a ClusterPrometheus).

    prometheus = OperatorPrometheus(cluster)
    prometheus.install_crds()   # every CRD of the operator's release, descriptions left out (server-side)
    prometheus.deploy()         # the operator, then a Prometheus CR; waits until its Pod is Ready
    prometheus.api("targets")   # GET /api/v1/targets from the cluster's LAN (a NodePort)
    prometheus.remove(); prometheus.remove_crds()

What it needs from the cluster and why: docs/design/local-cluster.md, "Add-ons".
"""

from __future__ import annotations

import base64
import gzip
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from devtools.cluster.addons import restricted_container_security, restricted_pod_security, without_descriptions
from devtools.cluster.images import ADDON_UID, Image
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.prometheus import NAME as SERVICE_NAME
from devtools.cluster.prometheus import NAMESPACE, PORT, ClusterPrometheus
from devtools.versions import REPO, prometheus_operator_all_crds_dir, prometheus_operator_rbac_dir, sourced
from devtools.waits import eventually

Obj = dict[str, Any]

OPERATOR = "prometheus-operator"
OPERATOR_PORT = 8080
INSTANCE = "streamops"  # the Prometheus object: Pods prometheus-streamops-<n>, label prometheus=streamops
PROMETHEUS_ACCOUNT = "prometheus"
LABELS = {"app.kubernetes.io/part-of": "streamops-local-cluster"}
# The rules are evaluated every second: the fault test's alert (`for: 5s`) turns pending, firing and
# inactive within a second of the scrape that changed its condition, not within 5 s. Its scrapes stay
# every 5 s (the `stats` rows are read from them).
EVALUATION_INTERVAL = "1s"


def prometheus_release(module_version: str) -> str:
    """The Prometheus release of a github.com/prometheus/prometheus module version (v0.316.0 is
    Prometheus 3.16.0): what the operator is told in spec.version, which picks the flags it passes."""
    _, minor, patch = module_version.lstrip("v").split(".")
    major, release_minor = divmod(int(minor), 100)
    return f"v{major}.{release_minor}.{patch}"


def all_crd_files(fetch: bool = True) -> list[Path]:
    directory = prometheus_operator_all_crds_dir()
    if fetch and not (directory / ".complete").exists():
        _fetch()
    return sorted(directory.glob("*.yaml"))


class KubernetesYamlLoader(yaml.CSafeLoader):
    """PyYAML's safe loader, reading a plain `=` as the string Kubernetes (Go's YAML) reads: PyYAML
    resolves it to YAML 1.1's `value` type and then has no constructor for it. AlertmanagerConfig's
    CRD lists `=` in its matchType enum. libyaml's parser (PyYAML's wheels carry it), the same
    objects: the CRDs' 4.2 MB took 24 s of CPU to read in pure Python, 3 s with it (load 10)."""


def _plain_string(loader: KubernetesYamlLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode), node
    return str(loader.construct_scalar(node))


KubernetesYamlLoader.add_constructor("tag:yaml.org,2002:value", _plain_string)


def load_crds(paths: list[Path]) -> list[Obj]:
    """Every object in these CRD files, read as Kubernetes reads them."""
    return [doc for path in paths for doc in yaml.load_all(path.read_text(), Loader=KubernetesYamlLoader) if doc]


def _fetch() -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "hack/fetch-prometheus-operator-crds.sh")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/fetch-prometheus-operator-crds.sh failed: {proc.stderr.strip()}")


def upstream_rules(file: str) -> list[Obj]:
    """The rules of one of upstream's ClusterRoles (example/rbac of the module, copied into the cache):
    prometheus-operator-cluster-role.yaml, prometheus-cluster-role.yaml."""
    path = prometheus_operator_rbac_dir() / file
    if not path.exists():
        _fetch()
    role = yaml.safe_load(path.read_text())
    assert role["kind"] == "ClusterRole", path
    return list(role["rules"])


def _role_and_binding(name: str, account: str, rules: list[Obj]) -> list[Obj]:
    meta = {"name": name, "labels": LABELS}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        },
    ]


def operator_manifests(image: str, reloader_image: str, rules: list[Obj]) -> list[Obj]:
    """The namespace (PodSecurity `restricted`), the operator's ServiceAccount and ClusterRole
    (upstream's rules) and its Deployment, told to run our config reloader image beside each Prometheus."""
    meta: Obj = {"namespace": NAMESPACE, "labels": {**LABELS, "app.kubernetes.io/name": OPERATOR}}
    selector = {"app.kubernetes.io/name": OPERATOR}
    container = {
        "name": OPERATOR,
        "image": image,
        "imagePullPolicy": "Never",
        "args": [
            f"--prometheus-config-reloader={reloader_image}",
            f"--web.listen-address=:{OPERATOR_PORT}",
            "--cluster-domain=cluster.local",
            "--log-level=info",
        ],
        "env": [{"name": "GOGC", "value": "30"}],  # as upstream's Deployment
        "ports": [{"name": "http", "containerPort": OPERATOR_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": restricted_container_security(),
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {**LABELS, "pod-security.kubernetes.io/enforce": "restricted"}},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": OPERATOR, **meta}},
        *_role_and_binding(OPERATOR, OPERATOR, rules),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": OPERATOR, **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": {**LABELS, **selector}},
                    "spec": {
                        "serviceAccountName": OPERATOR,
                        "securityContext": restricted_pod_security(),
                        "containers": [container],
                    },
                },
            },
        },
    ]


def prometheus_manifests(image: str, version: str, rules: list[Obj]) -> list[Obj]:
    """A Prometheus object selecting every ServiceMonitor, PodMonitor and PrometheusRule in every
    namespace (empty selectors: all; absent ones would select none), its ServiceAccount and
    ClusterRole (upstream's), and a NodePort Service `prometheus` for the LAN (the operator's own
    `prometheus-operated` is headless)."""
    meta: Obj = {"namespace": NAMESPACE, "labels": LABELS}
    everything: Obj = {}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": PROMETHEUS_ACCOUNT, **meta}},
        *_role_and_binding(f"{NAMESPACE}-{PROMETHEUS_ACCOUNT}", PROMETHEUS_ACCOUNT, rules),
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": INSTANCE, **meta},
            "spec": {
                "image": image,
                "version": version,
                "imagePullPolicy": "Never",
                "replicas": 1,
                "serviceAccountName": PROMETHEUS_ACCOUNT,
                "serviceMonitorSelector": everything,
                "serviceMonitorNamespaceSelector": everything,
                "podMonitorSelector": everything,
                "podMonitorNamespaceSelector": everything,
                "ruleSelector": everything,
                "ruleNamespaceSelector": everything,
                "scrapeInterval": "30s",
                "evaluationInterval": EVALUATION_INTERVAL,
                "retention": "2h",
                # PodSecurity `restricted`: the operator drops every capability and makes the root
                # filesystems read-only itself; the Pod's user and seccomp profile are ours to give.
                "securityContext": {**restricted_pod_security(), "fsGroup": ADDON_UID},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
                # Merged into the container the operator generates: its startup probe asks /-/ready
                # every 15 s (sized for a long WAL replay; ours has none), so a Prometheus ready 2 s in
                # was Ready 15 s in. Every second, for as long in all (60 × 15 s).
                "containers": [{"name": "prometheus", "startupProbe": {"periodSeconds": 1, "failureThreshold": 900}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE_NAME, **meta},
            "spec": {
                "type": "NodePort",
                "selector": {"app.kubernetes.io/name": "prometheus", "prometheus": INSTANCE},
                "ports": [{"name": "web", "port": PORT, "targetPort": "web", "protocol": "TCP"}],
            },
        },
    ]


# -- on the cluster ------------------------------------------------------------------------------


class OperatorPrometheus(ClusterPrometheus):
    """ClusterPrometheus' queries against the Prometheus the operator runs."""

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__(cluster)
        self.deploy_seconds = 0.0
        self.crd_seconds: dict[str, float] = {}
        self._began = time.monotonic()
        self._imported = False

    @property
    def images(self) -> list[Image]:
        b = self.cluster.builder
        return [b.prometheus_operator(), b.prometheus_config_reloader(), b.prometheus()]

    def install_crds(self) -> None:
        """Every CRD applied (without its descriptions) and Established; crd_seconds: how long reading,
        applying and the wait took."""
        began = time.monotonic()
        crds = [without_descriptions(crd) for crd in load_crds(all_crd_files())]
        names = [c["metadata"]["name"] for c in crds]
        read = time.monotonic()
        self.cluster.wait_not_terminating("crd", *names)  # an earlier install's removal may still be going
        self.cluster.apply_server_side(crds)
        applied = time.monotonic()
        self.cluster.wait_established(*names, timeout=90)
        self.crd_seconds = {
            "read": round(read - began, 1),
            "applied": round(applied - read, 1),
            "Established": round(time.monotonic() - applied, 1),
        }

    def remove_crds(self) -> None:
        names = [f"crd/{p.stem.removeprefix('monitoring.coreos.com_')}.monitoring.coreos.com" for p in all_crd_files()]
        self.cluster.kubectl("delete", "--ignore-not-found", "--wait=false", *names)

    def import_image(self) -> None:
        """The three images into every node: needs no CRD, so it may run while they are applied."""
        self.cluster.import_images(self.images)
        self._imported = True

    def deploy(self, timeout: float = 180) -> None:
        """The operator, then the Prometheus object; returns once its Pod is Ready."""
        self.start()
        self.wait_ready(timeout)

    def start(self) -> None:
        """The images imported, the operator and the Prometheus object applied, without waiting (the
        operator reconciles the object once it runs): a test can start its own work meanwhile, then
        wait_ready()."""
        self._began = time.monotonic()
        operator, reloader, prometheus = self.images
        if not self._imported:
            self.import_image()
        self.cluster.wait_not_terminating("namespace", NAMESPACE)  # an earlier removal may still be going
        self.cluster.apply_objects(
            operator_manifests(operator.short, reloader.short, upstream_rules("prometheus-operator-cluster-role.yaml"))
        )
        version = prometheus_release(sourced("PROMETHEUS_VERSION"))
        objects = prometheus_manifests(prometheus.short, version, upstream_rules("prometheus-cluster-role.yaml"))
        self.cluster.apply_objects(objects)

    def wait_ready(self, timeout: float = 180) -> None:
        """The operator rolled out and its Prometheus Ready; deploy_seconds: from start() until then."""
        try:
            self.cluster.rollout(NAMESPACE, OPERATOR, timeout=timeout)
            eventually(self._ready, timeout=timeout, interval=0.5, what="the operator's Prometheus Ready")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose()}") from None
        self.deploy_seconds = time.monotonic() - self._began

    def generated_config(self) -> str:
        """The configuration the operator wrote for Prometheus (its Secret, gzipped), for diagnostics."""
        secret = self.cluster.get("secrets", NAMESPACE, f"prometheus-{INSTANCE}") or {}
        data = (secret.get("data") or {}).get("prometheus.yaml.gz")
        return gzip.decompress(base64.b64decode(data)).decode() if data else ""

    def diagnose(self) -> str:
        k = self.cluster.kubectl
        return "\n".join([
            k("get", "prometheus,statefulsets,pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout,
            k("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp", check=False).stdout[-3000:],
            "--- operator:",
            k("logs", "-n", NAMESPACE, f"deployment/{OPERATOR}", "--tail=30", check=False).stdout,
            "--- prometheus:",
            k("logs", "-n", NAMESPACE, f"statefulset/prometheus-{INSTANCE}", "-c", "prometheus", "--tail=30",
              check=False).stdout,
        ])  # fmt: skip

    def remove(self) -> None:
        """The Prometheus object first (its operator removes what it made), then the namespace and
        the cluster-wide RBAC."""
        k = self.cluster.kubectl
        k("delete", "prometheus", INSTANCE, "-n", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=60s",
          check=False)  # fmt: skip
        k("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
        k(
            "delete",
            "clusterrole,clusterrolebinding",
            OPERATOR,
            f"{NAMESPACE}-{PROMETHEUS_ACCOUNT}",
            "--ignore-not-found",
        )
