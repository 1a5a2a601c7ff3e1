"""A real Prometheus on the local cluster (devtools.cluster.local_cluster), configured the way the
Prometheus Operator configures one from ServiceMonitors, PodMonitors and PrometheusRules, without
the operator itself: the objects are read from the API server (where `helm install` put them) and
translated here into kubernetes_sd scrape jobs and rule files. A test then proves that the chart's
selectors match the Services and Pods the streamops operator creates, and that its alerts fire on
real faults. Why and what it proves: docs/design/observability.md, "Prometheus on the local cluster".

    prometheus = ClusterPrometheus(cluster)
    prometheus.install_crds()        # monitoring.coreos.com CRDs, before `helm install` with monitoring on
    prometheus.deploy()              # translate what the API server holds, apply, wait until Ready
    prometheus.api("targets")        # GET /api/v1/targets from the cluster's LAN (a NodePort)
    prometheus.remove()

The translation (scrape_jobs) follows what the Prometheus Operator (v0.85, service discovery role
Endpoints) generates for the fields the chart uses; a field it does not know is refused rather than
ignored, so a chart change cannot silently scrape something else than a real Prometheus would.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import subprocess
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from devtools.cluster.addons import (
    restricted_container_security,
    restricted_pod_security,
    service_account_with_cluster_role,
)
from devtools.cluster.images import Image
from devtools.cluster.local_cluster import LocalCluster
from devtools.versions import REPO, prometheus_operator_crds_dir
from devtools.waits import eventually

Obj = dict[str, Any]

NAMESPACE = "monitoring"
NAME = "prometheus"
PORT = 9090
# Side by side: a volume mounted inside a read-only ConfigMap volume has no mount point to be made.
CONFIG_DIR = "/etc/prometheus/config"
RULES_DIR = "/etc/prometheus/rules"
DATA_DIR = "/data"  # the TSDB, in an emptyDir
MONITORING_KINDS = ("servicemonitors", "podmonitors", "prometheusrules")
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "streamops-local-cluster"}
# What Prometheus' kubernetes_sd (role endpoints and pod) lists and watches.
RULES: list[Obj] = [
    {"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
]
# Endpoint fields translated; anything else in a ServiceMonitor or PodMonitor endpoint is refused.
ENDPOINT_FIELDS = frozenset(
    {"port", "path", "interval", "scrapeTimeout", "honorLabels", "honorTimestamps", "scheme", "params",
     "relabelings", "metricRelabelings"}
)  # fmt: skip
MONITOR_SPEC_FIELDS = frozenset(
    {"selector", "namespaceSelector", "endpoints", "podMetricsEndpoints", "jobLabel", "targetLabels",
     "podTargetLabels"}
)  # fmt: skip


class TranslationError(ValueError):
    """A monitoring object uses a field this translation does not implement."""


# -- the translation (pure) ----------------------------------------------------------------------


def label_name(key: str) -> str:
    """A Kubernetes label key as Prometheus' service discovery names it in meta labels."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def selector_relabelings(selector: Mapping[str, Any], role: str) -> list[Obj]:
    """keep/drop rules that let through only the targets whose Service (role "service") or Pod
    ("pod") labels match a LabelSelector, as the Prometheus Operator writes them."""
    out: list[Obj] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        name = label_name(key)
        sources = [f"__meta_kubernetes_{role}_label_{name}", f"__meta_kubernetes_{role}_labelpresent_{name}"]
        out.append({"action": "keep", "source_labels": sources, "regex": f"({re.escape(str(value))});true"})
    for expr in selector.get("matchExpressions") or []:
        name, op = label_name(expr["key"]), expr["operator"]
        values = "|".join(re.escape(v) for v in expr.get("values") or [])
        present = f"__meta_kubernetes_{role}_labelpresent_{name}"
        value_labels = [f"__meta_kubernetes_{role}_label_{name}", present]
        if op == "In":
            out.append({"action": "keep", "source_labels": value_labels, "regex": f"({values});true"})
        elif op == "NotIn":
            out.append({"action": "drop", "source_labels": value_labels, "regex": f"({values});true"})
        elif op == "Exists":
            out.append({"action": "keep", "source_labels": [present], "regex": "true"})
        elif op == "DoesNotExist":
            out.append({"action": "drop", "source_labels": [present], "regex": "true"})
        else:
            raise TranslationError(f"selector operator {op!r}")
    return out


def sd_namespaces(monitor: Mapping[str, Any]) -> Obj | None:
    """kubernetes_sd `namespaces`: the monitor's own namespace unless namespaceSelector says
    `any: true` (None: every namespace) or names some."""
    selector = monitor["spec"].get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    names = selector.get("matchNames") or [monitor["metadata"]["namespace"]]
    return {"names": list(names)}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def relabel_config(rule: Mapping[str, Any]) -> Obj:
    """A monitoring.coreos.com RelabelConfig (camelCase) as Prometheus writes it (snake_case, the
    action lower-cased)."""
    out = {_snake(k): v for k, v in rule.items()}
    if "action" in out:
        out["action"] = str(out["action"]).lower()
    return out


def _endpoint_settings(endpoint: Mapping[str, Any]) -> Obj:
    if unknown := set(endpoint) - ENDPOINT_FIELDS:
        raise TranslationError(f"endpoint fields {sorted(unknown)}")
    job: Obj = {
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        "metrics_path": endpoint.get("path", "/metrics"),
    }
    if "honorTimestamps" in endpoint:
        job["honor_timestamps"] = bool(endpoint["honorTimestamps"])
    for field, key in (("interval", "scrape_interval"), ("scrapeTimeout", "scrape_timeout"), ("scheme", "scheme")):
        if endpoint.get(field):
            job[key] = endpoint[field]
    if endpoint.get("params"):
        job["params"] = endpoint["params"]
    if endpoint.get("metricRelabelings"):
        job["metric_relabel_configs"] = [relabel_config(r) for r in endpoint["metricRelabelings"]]
    return job


def _check_spec(monitor: Mapping[str, Any]) -> None:
    if unknown := set(monitor["spec"]) - MONITOR_SPEC_FIELDS:
        raise TranslationError(f"{monitor['kind']} {monitor['metadata']['name']}: spec fields {sorted(unknown)}")


def _copy(source: str, target: str, regex: str | None = None) -> Obj:
    rule: Obj = {"source_labels": [source], "target_label": target}
    if regex:
        rule |= {"regex": regex, "replacement": "${1}"}
    return rule


def service_monitor_jobs(monitor: Mapping[str, Any]) -> list[Obj]:
    """One scrape job per endpoint of a ServiceMonitor: Endpoints of the Services its selector and
    namespaceSelector match, on the port named `port`; target labels namespace, service, pod,
    container, endpoint and job (the Service's name, or its `jobLabel` label)."""
    _check_spec(monitor)
    spec, meta = monitor["spec"], monitor["metadata"]
    jobs = []
    for i, endpoint in enumerate(spec.get("endpoints") or []):
        if "port" not in endpoint:
            raise TranslationError(f"ServiceMonitor {meta['name']}: an endpoint without a port name")
        sd: Obj = {"role": "endpoints"}
        if (namespaces := sd_namespaces(monitor)) is not None:
            sd["namespaces"] = namespaces
        relabel = [
            *selector_relabelings(spec.get("selector") or {}, "service"),
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                "regex": re.escape(endpoint["port"]),
            },
            {
                "source_labels": [
                    "__meta_kubernetes_endpoint_address_target_kind",
                    "__meta_kubernetes_endpoint_address_target_name",
                ],
                "separator": ";",
                "regex": "Pod;(.*)",
                "replacement": "${1}",
                "target_label": "pod",
            },
            _copy("__meta_kubernetes_namespace", "namespace"),
            _copy("__meta_kubernetes_service_name", "service"),
            _copy("__meta_kubernetes_pod_name", "pod"),
            _copy("__meta_kubernetes_pod_container_name", "container"),
            {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
            *(
                _copy(f"__meta_kubernetes_service_label_{label_name(k)}", label_name(k), "(.+)")
                for k in spec.get("targetLabels") or []
            ),
            *(
                _copy(f"__meta_kubernetes_pod_label_{label_name(k)}", label_name(k), "(.+)")
                for k in spec.get("podTargetLabels") or []
            ),
            _copy("__meta_kubernetes_service_name", "job"),
        ]
        if job_label := spec.get("jobLabel"):
            relabel.append(_copy(f"__meta_kubernetes_service_label_{label_name(job_label)}", "job", "(.+)"))
        relabel.append({"target_label": "endpoint", "replacement": endpoint["port"]})
        relabel += [relabel_config(r) for r in endpoint.get("relabelings") or []]
        jobs.append({
            "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{i}",
            **_endpoint_settings(endpoint),
            "kubernetes_sd_configs": [sd],
            "relabel_configs": relabel,
        })  # fmt: skip
    return jobs


def pod_monitor_jobs(monitor: Mapping[str, Any]) -> list[Obj]:
    """One scrape job per podMetricsEndpoint of a PodMonitor: the containers' ports named `port` of
    the Pods its selector and namespaceSelector match; target labels namespace, pod, container,
    endpoint and job (<namespace>/<name>, or the Pod's `jobLabel` label)."""
    _check_spec(monitor)
    spec, meta = monitor["spec"], monitor["metadata"]
    jobs = []
    for i, endpoint in enumerate(spec.get("podMetricsEndpoints") or []):
        if "port" not in endpoint:
            raise TranslationError(f"PodMonitor {meta['name']}: an endpoint without a port name")
        sd: Obj = {"role": "pod"}
        if (namespaces := sd_namespaces(monitor)) is not None:
            sd["namespaces"] = namespaces
        relabel = [
            {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
            *selector_relabelings(spec.get("selector") or {}, "pod"),
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": re.escape(endpoint["port"]),
            },
            _copy("__meta_kubernetes_namespace", "namespace"),
            _copy("__meta_kubernetes_pod_container_name", "container"),
            _copy("__meta_kubernetes_pod_name", "pod"),
            *(
                _copy(f"__meta_kubernetes_pod_label_{label_name(k)}", label_name(k), "(.+)")
                for k in spec.get("podTargetLabels") or []
            ),
            {"target_label": "job", "replacement": f"{meta['namespace']}/{meta['name']}"},
        ]
        if job_label := spec.get("jobLabel"):
            relabel.append(_copy(f"__meta_kubernetes_pod_label_{label_name(job_label)}", "job", "(.+)"))
        relabel.append({"target_label": "endpoint", "replacement": endpoint["port"]})
        relabel += [relabel_config(r) for r in endpoint.get("relabelings") or []]
        jobs.append({
            "job_name": f"podMonitor/{meta['namespace']}/{meta['name']}/{i}",
            **_endpoint_settings(endpoint),
            "kubernetes_sd_configs": [sd],
            "relabel_configs": relabel,
        })  # fmt: skip
    return jobs


def scrape_jobs(monitors: Sequence[Mapping[str, Any]]) -> list[Obj]:
    """The scrape jobs of every ServiceMonitor and PodMonitor, in a stable order."""
    jobs: list[Obj] = []
    for m in sorted(monitors, key=lambda m: (m["kind"], m["metadata"]["namespace"], m["metadata"]["name"])):
        if m["kind"] == "ServiceMonitor":
            jobs += service_monitor_jobs(m)
        elif m["kind"] == "PodMonitor":
            jobs += pod_monitor_jobs(m)
        else:
            raise TranslationError(f"kind {m['kind']}")
    return jobs


def rule_files(rules: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """One rules file per PrometheusRule (its spec.groups), named <namespace>-<name>.yaml as the
    Prometheus Operator names them."""
    return {
        f"{r['metadata']['namespace']}-{r['metadata']['name']}.yaml": yaml.safe_dump(
            {"groups": r["spec"].get("groups") or []}, sort_keys=False
        )
        for r in rules
    }


def prometheus_config(monitors: Sequence[Mapping[str, Any]], *, evaluation_interval: str = "5s") -> Obj:
    """prometheus.yml: the translated jobs, every rules file, rules evaluated every
    `evaluation_interval` (a rule group's own `interval` wins)."""
    return {
        "global": {"scrape_interval": "30s", "evaluation_interval": evaluation_interval},
        "rule_files": [f"{RULES_DIR}/*.yaml"],
        "scrape_configs": scrape_jobs(monitors),
    }


def prometheus_manifests(image: str, config: Mapping[str, Any], rules: Mapping[str, str]) -> list[Obj]:
    """Namespace, ServiceAccount and ClusterRole (service discovery), the configuration, the
    Deployment (one replica, TSDB in an emptyDir) and a NodePort Service named `web`."""
    meta: Obj = {"namespace": NAMESPACE, "labels": LABELS}
    config_text = yaml.safe_dump(dict(config), sort_keys=False)
    digest = hashlib.sha256(json.dumps([config_text, dict(rules)], sort_keys=True).encode()).hexdigest()[:16]
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "Never",
        "args": [
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            "--storage.tsdb.retention.time=2h",
            f"--web.listen-address=:{PORT}",
        ],
        "ports": [{"name": "web", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "web"}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "rules", "mountPath": RULES_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {**LABELS, "pod-security.kubernetes.io/enforce": "restricted"}},
        },
        *service_account_with_cluster_role(NAME, f"{NAMESPACE}-{NAME}", NAMESPACE, RULES, LABELS),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, **meta},
            "data": {"prometheus.yml": config_text},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{NAME}-rules", **meta}, "data": dict(rules)},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, **meta},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # one TSDB directory, one writer
                "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
                "template": {
                    # A new configuration is a new Pod (no reload sidecar here).
                    "metadata": {"labels": LABELS, "annotations": {"streamops.dev/config-hash": digest}},
                    "spec": {
                        "serviceAccountName": NAME,
                        "securityContext": {
                            **restricted_pod_security(),
                            "fsGroup": restricted_pod_security()["runAsGroup"],
                        },
                        "containers": [container],
                        "volumes": [
                            {"name": "config", "configMap": {"name": NAME}},
                            {"name": "rules", "configMap": {"name": f"{NAME}-rules"}},
                            {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}},
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
                "type": "NodePort",
                "selector": {"app.kubernetes.io/name": NAME},
                "ports": [{"name": "web", "port": PORT, "targetPort": "web", "protocol": "TCP"}],
            },
        },
    ]


def monitoring_crds() -> list[Obj]:
    """The Prometheus Operator's ServiceMonitor, PodMonitor and PrometheusRule CRDs (fetched into
    the cache by hack/fetch-prometheus-operator-crds.sh when absent)."""
    directory = prometheus_operator_crds_dir()
    if not (directory / ".complete").exists():
        proc = subprocess.run(
            ["bash", str(REPO / "hack/fetch-prometheus-operator-crds.sh")], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"hack/fetch-prometheus-operator-crds.sh failed: {proc.stderr.strip()}")
    return [doc for path in sorted(directory.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


# -- on the cluster ------------------------------------------------------------------------------


class ClusterPrometheus:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.config: Obj = {}
        self.rules: dict[str, str] = {}

    @property
    def image(self) -> Image:
        return self.cluster.builder.prometheus()

    def install_crds(self) -> None:
        self.cluster.apply_objects(monitoring_crds())
        names = [f"{kind}.monitoring.coreos.com" for kind in MONITORING_KINDS]
        # (kubectl wait fails at once on a CRD whose status has no conditions yet: ask until it has.)
        wait = ["wait", "--for", "condition=Established", "--timeout=10s", "crd", *names]
        eventually(lambda: self.cluster.kubectl(*wait, check=False).returncode == 0, timeout=60, interval=0.5,
                   what="the monitoring CRDs Established")  # fmt: skip

    def remove_crds(self) -> None:
        names = [f"crd/{kind}.monitoring.coreos.com" for kind in MONITORING_KINDS]
        self.cluster.kubectl("delete", "--ignore-not-found", "--wait=false", *names)

    def monitoring_objects(self) -> list[Obj]:
        """Every ServiceMonitor, PodMonitor and PrometheusRule on the cluster, as the Prometheus
        Operator would find them (this Prometheus selects them all)."""
        out = self.cluster.kubectl("get", ",".join(MONITORING_KINDS), "-A", "-o", "json")
        return list(json.loads(out.stdout)["items"])

    def import_image(self) -> None:
        """Into every node's containerd, once (the cluster's start does not import it: only the
        tests that monitor pay for it)."""
        image = self.image

        def one(node: Any) -> None:
            if image.tag not in node.ctr("images", "ls", "-q").split():
                node.ctr("images", "import", "--snapshotter", "overlayfs", str(image.archive), timeout=600)

        with concurrent.futures.ThreadPoolExecutor(len(self.cluster.nodes)) as pool:
            for f in [pool.submit(one, n) for n in self.cluster.nodes]:
                f.result()

    def deploy(self, timeout: float = 120) -> None:
        """Translate the monitoring objects on the cluster, apply Prometheus and wait until Ready."""
        objects = self.monitoring_objects()
        monitors = [o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")]
        self.config = prometheus_config(monitors)
        self.rules = rule_files([o for o in objects if o["kind"] == "PrometheusRule"])
        self.import_image()
        self.cluster.apply_objects(prometheus_manifests(self.image.short, self.config, self.rules))
        try:
            eventually(self._ready, timeout=timeout, interval=0.5, what="Prometheus Ready")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose()}") from None

    def _ready(self) -> bool:
        pods = self.cluster.list("pods", NAMESPACE, "app.kubernetes.io/name=prometheus")
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            for c in p.get("status", {}).get("conditions", [])
        )

    def diagnose(self) -> str:
        """Pods, Events and the log tail: what a failing wait prints."""
        k = self.cluster.kubectl
        return "\n".join([
            k("get", "pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout,
            k("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp", check=False).stdout[-3000:],
            k("logs", "-n", NAMESPACE, f"deployment/{NAME}", "--tail=30", check=False).stdout,
        ])  # fmt: skip

    def remove(self) -> None:
        self.cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
        self.cluster.kubectl("delete", "clusterrole,clusterrolebinding", f"{NAMESPACE}-{NAME}", "--ignore-not-found")

    @property
    def url(self) -> str:
        """Prometheus as the LAN reaches it: its NodePort on the first node."""
        service = self.cluster.get("services", NAMESPACE, NAME)
        assert service is not None, "Prometheus is not deployed"
        return f"http://{self.cluster.network.nodes[0].ip}:{service['spec']['ports'][0]['nodePort']}"

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> from the LAN; its `data` (AssertionError on anything but success)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = self.cluster.lan_get(f"{self.url}/api/v1/{path}{query}", timeout=10)
        assert status == 200, f"Prometheus /api/v1/{path}: {status} {body[:300]!r}"
        answer = json.loads(body)
        assert answer.get("status") == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[Obj]:
        """An instant query's vector: [{"metric": {labels}, "value": [t, "v"]}, ...]."""
        return list(self.api("query", query=expr)["result"])

    def active_targets(self) -> list[Obj]:
        return list(self.api("targets", state="active")["activeTargets"])

    def alerts(self) -> list[Obj]:
        """Pending and firing alerts: [{"labels": {...}, "state": "pending"|"firing", ...}]."""
        return list(self.api("alerts")["alerts"])

    def metric_names(self) -> set[str]:
        return set(self.api("label/__name__/values"))
