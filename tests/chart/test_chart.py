"""The Helm chart without a cluster: lint, what `helm template` renders for default and
non-default values, values rejected by values.schema.json, generated files in step.
(Server-side apply of the rendering and the RBAC proof run on the real API server:
tests/cluster/test_chart_apply.py and test_chart_rbac.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import reduce
from typing import Any

import pytest
import yaml
from devtools.chart import CHART, REPO, VALUES_DIR, find, helm, objects, render

GROUP = "streaming.streamops.dev"


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return objects(render())


@pytest.fixture(scope="module")
def custom() -> list[dict[str, Any]]:
    return objects(render(VALUES_DIR / "custom.yaml"))


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = find(objs, "Deployment")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def env(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objs)["env"]}


@pytest.mark.parametrize("values", ["default", "custom.yaml"])
def test_lint(values: str) -> None:
    args = ["lint", str(CHART), "--strict"]
    if values != "default":
        args += ["-f", str(VALUES_DIR / values)]
    result = helm(*args)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def test_default_objects(default: list[dict[str, Any]]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in default)
    assert kinds == [
        ("ClusterRole", "streamops"),
        ("ClusterRoleBinding", "streamops"),
        ("ConfigMap", "streamops-worker-network-policies"),
        ("CustomResourceDefinition", f"broadcasts.{GROUP}"),
        ("CustomResourceDefinition", f"clips.{GROUP}"),
        ("CustomResourceDefinition", f"clusterqualitysets.{GROUP}"),
        ("CustomResourceDefinition", f"livestreams.{GROUP}"),
        ("CustomResourceDefinition", f"playbackpolicies.{GROUP}"),
        ("CustomResourceDefinition", f"qualitysets.{GROUP}"),
        ("CustomResourceDefinition", f"recordings.{GROUP}"),
        ("CustomResourceDefinition", f"restreams.{GROUP}"),
        ("CustomResourceDefinition", f"streamwebhooks.{GROUP}"),
        ("Deployment", "streamops"),
        ("NetworkPolicy", "streamops-operator"),
        ("Role", "streamops-leader-election"),
        ("RoleBinding", "streamops-leader-election"),
        ("Service", "streamops-metrics"),
        ("ServiceAccount", "streamops"),
    ]
    for o in default:
        namespaced = ("Deployment", "ServiceAccount", "Role", "RoleBinding", "Service", "ConfigMap", "NetworkPolicy")
        if o["kind"] in namespaced:
            assert o["metadata"]["namespace"] == "streamops-system"


def test_deployment_is_two_restricted_replicas(default: list[dict[str, Any]]) -> None:
    (d,) = find(default, "Deployment")
    spec = d["spec"]
    assert spec["replicas"] == 2
    # Safe with leader election: the new Pod waits as a standby until the old one released the Lease.
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "streamops"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(default)
    assert c["image"] == "ghcr.io/streamops/streamops-operator:0.1.0"
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    policies = {
        "name": "worker-network-policies",
        "mountPath": "/etc/streamops/worker-network-policies",
        "readOnly": True,
    }
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}, policies]
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    assert c["resources"]["limits"]["memory"] == "256Mi"
    # The probe hits the endpoint the operator is told to serve (streamops operator --liveness).
    assert "--liveness=http://0.0.0.0:8081/healthz" in c["args"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in c["ports"]
    # /metrics on the port the Service streamops-metrics targets by name.
    assert "--metrics-port=8080" in c["args"] and "--metrics-address=0.0.0.0" in c["args"]
    assert {"name": "metrics", "containerPort": 8080, "protocol": "TCP"} in c["ports"]
    (service,) = find(default, "Service", "streamops-metrics")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert not any(a.startswith("--namespace") for a in c["args"])  # cluster-wide by default


def test_replicas_elect_a_leader_on_different_nodes(default: list[dict[str, Any]]) -> None:
    """Leader election on a Lease named after the release, the Pod's name and namespace from the
    downward API; replicas preferably on different nodes; evicted from a lost node after 30 s."""
    c = container(default)
    assert "--leader-election" in c["args"] and "--lease-name=streamops" in c["args"]
    e = env(default)
    assert e["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert e["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    (d,) = find(default, "Deployment")
    pod = d["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == d["spec"]["selector"]["matchLabels"]
    assert pod["tolerations"] == [
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
        for taint in ("unreachable", "not-ready")
    ]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["operator"]["nodeLoss"]["tolerationSeconds"] == values["worker"]["nodeLoss"]["tolerationSeconds"]
    (role,) = find(default, "Role")
    from streamops.control.runtime.rbac import leader_election_rules

    assert role["rules"] == leader_election_rules()
    (binding,) = find(default, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "streamops", "namespace": "streamops-system"}]


def test_operator_placement_values(custom: list[dict[str, Any]]) -> None:
    """custom.yaml: one replica, Kubernetes' own node-loss toleration (null), a toleration of its
    own; an affinity of one's own replaces the anti-affinity."""
    (d,) = find(custom, "Deployment", "live-ops")
    assert d["spec"]["replicas"] == 1
    pod = d["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "media", "operator": "Exists", "effect": "NoSchedule"}]
    assert "--lease-name=live-ops" in container(custom)["args"]
    own = objects(render(sets=("affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.x=y",)))
    (d,) = find(own, "Deployment")
    assert d["spec"]["template"]["spec"]["affinity"] == {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"x": "y"}}
    }
    both = objects(render(VALUES_DIR / "custom.yaml", sets=("operator.nodeLoss.tolerationSeconds=5",)))
    (d,) = find(both, "Deployment")
    assert [t.get("tolerationSeconds") for t in d["spec"]["template"]["spec"]["tolerations"]] == [5, 5, None]


def test_worker_defaults_reach_the_operator_as_env(default: list[dict[str, Any]], custom: list[dict[str, Any]]) -> None:
    e = env(default)
    assert e["STREAMOPS_WORKER_IMAGE"] == "ghcr.io/streamops/streamops-worker:0.1.0"
    assert e["STREAMOPS_WORKER_IMAGE_PULL_POLICY"] == "IfNotPresent"
    assert e["STREAMOPS_RESYNC_SECONDS"] == "120"
    assert e["STREAMOPS_HOST_NETWORK"] == "false"
    assert e["STREAMOPS_PORT_RANGE"] == "40000-40999"
    assert e["STREAMOPS_RECORDINGS_CLAIM"] == "streamops-recordings"
    assert yaml.safe_load(e["STREAMOPS_WORKER_RESOURCES"]) == {}, "the operator's measured defaults"
    c = env(custom)
    assert c["STREAMOPS_WORKER_IMAGE"] == "registry.example.com/media/streamops-worker:0.1.0-rc1"
    assert c["STREAMOPS_WORKER_IMAGE_PULL_POLICY"] == "Always"
    assert yaml.safe_load(c["STREAMOPS_WORKER_RESOURCES"]) == {
        "pusher": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
    }
    assert c["STREAMOPS_HOST_NETWORK"] == "true"
    assert c["STREAMOPS_PORT_RANGE"] == "40000-40099"
    assert c["STREAMOPS_WORKER_ADDRESS"] == "media-node.example.com"
    assert c["STREAMOPS_WORKER_BIND_ADDRESS"] == "::"
    assert c["STREAMOPS_TELEMETRY_INTERVAL_SECONDS"] == "1"
    assert c["STREAMOPS_METRICS_WRITE_SECONDS"] == "0"
    assert c["STREAMOPS_IDLE_INTERVAL_SECONDS"] == "5"
    assert c["STREAMOPS_RECORDINGS_CLAIM"] == "recordings"
    assert c["STREAMOPS_RECORDINGS_STORAGE_CLASS"] == "fast"
    assert c["STREAMOPS_RECORDINGS_CLAIM_SIZE"] == "200Gi"
    assert c["STREAMOPS_RECORDINGS_ACCESS_MODE"] == "ReadWriteMany"
    assert c["TZ"] == "UTC"


def test_exposure_and_node_loss_values_reach_the_operator_as_env(
    default: list[dict[str, Any]], custom: list[dict[str, Any]]
) -> None:
    """ingest.*, playback.* and worker.nodeLoss.* as STREAMOPS_* (maps and lists as JSON), and what
    the operator makes of them."""
    from streamops.control.shared.settings import ENV_PREFIX, OperatorSettings

    e = env(default)
    assert e["STREAMOPS_INGEST_SERVICE_TYPE"] == "ClusterIP"
    assert e["STREAMOPS_INGEST_SERVICE_ANNOTATIONS"] == "{}"
    assert e["STREAMOPS_PLAYBACK_INGRESS_ENABLED"] == e["STREAMOPS_PLAYBACK_HTTP_ROUTE_ENABLED"] == "false"
    assert e["STREAMOPS_PLAYBACK_HTTP_ROUTE_PARENT_REFS"] == e["STREAMOPS_PLAYBACK_HTTP_ROUTE_HOSTNAMES"] == "[]"
    assert (e["STREAMOPS_NODE_LOST_TOLERATION_SECONDS"], e["STREAMOPS_NODE_LOST_FORCE_DELETE_SECONDS"]) == ("30", "10")
    assert e["STREAMOPS_NODE_LOST_GRACE_SECONDS"] == "15"
    assert e["STREAMOPS_VIEWER_WINDOW_SECONDS"] == "30"

    c = env(custom)
    assert c["STREAMOPS_INGEST_SERVICE_TYPE"] == "LoadBalancer"
    assert json.loads(c["STREAMOPS_INGEST_SERVICE_ANNOTATIONS"]) == {
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "example.com/team": "media",
    }
    assert c["STREAMOPS_INGEST_LOAD_BALANCER_CLASS"] == "service.k8s.aws/nlb"
    assert c["STREAMOPS_INGEST_EXTERNAL_TRAFFIC_POLICY"] == "Local"
    assert c["STREAMOPS_EXTERNAL_HOST"] == "edge.example.com"
    assert json.loads(c["STREAMOPS_INGEST_REGIONS"]) == [
        {"name": "eu-west", "externalHost": "ingest-eu.example.com"},
        {"name": "us-east", "externalHost": "198.51.100.20"},
        {
            "name": "ap-south",
            "service": {
                "type": "LoadBalancer",
                "annotations": {"example.com/zone": "ap-south-1"},
                "loadBalancerClass": "service.k8s.aws/nlb",
            },
        },
    ]
    assert e["STREAMOPS_INGEST_REGIONS"] == "[]"
    assert c["STREAMOPS_PLAYBACK_INGRESS_ENABLED"] == "true"
    assert c["STREAMOPS_PLAYBACK_INGRESS_CLASS_NAME"] == "traefik"
    assert c["STREAMOPS_PLAYBACK_INGRESS_HOST"] == "tv.example.com"
    assert c["STREAMOPS_PLAYBACK_INGRESS_TLS_SECRET_NAME"] == "tv-tls"
    assert json.loads(c["STREAMOPS_PLAYBACK_INGRESS_ANNOTATIONS"]) == {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure"
    }
    assert c["STREAMOPS_PLAYBACK_HTTP_ROUTE_ENABLED"] == "false"
    assert json.loads(c["STREAMOPS_PLAYBACK_HTTP_ROUTE_PARENT_REFS"]) == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    assert json.loads(c["STREAMOPS_PLAYBACK_HTTP_ROUTE_HOSTNAMES"]) == ["watch.example.com", "*.watch.example.com"]
    assert c["STREAMOPS_PLAYBACK_HTTP_ROUTE_HTTPS"] == "true"
    assert c["STREAMOPS_NODE_LOST_TOLERATION_SECONDS"] == "45"
    assert c["STREAMOPS_NODE_LOST_FORCE_DELETE_SECONDS"] == "12.5"
    assert c["STREAMOPS_NODE_LOST_GRACE_SECONDS"] == "4"
    assert c["STREAMOPS_VIEWER_WINDOW_SECONDS"] == "12.5"

    settings = OperatorSettings.from_env({k: v for k, v in c.items() if k.startswith(ENV_PREFIX)})
    assert settings.ingest.service_type == "LoadBalancer" and settings.ingest.external_traffic_policy == "Local"
    assert settings.ingest.service_annotations["example.com/team"] == "media"
    assert [(r.name, r.external_host, r.service.type) for r in settings.ingest.regions] == [
        ("eu-west", "ingest-eu.example.com", "NodePort"),
        ("us-east", "198.51.100.20", "NodePort"),
        ("ap-south", "", "LoadBalancer"),
    ]
    assert settings.ingest.regions[2].service.load_balancer_class == "service.k8s.aws/nlb"
    assert settings.playback.ingress_enabled and not settings.playback.http_route_enabled
    assert settings.playback.http_route_parent_refs == [
        {"name": "public", "namespace": "gateways", "sectionName": "https"}
    ]
    assert settings.playback.http_route_https is True
    assert (settings.node_loss.toleration_seconds, settings.node_loss.force_delete_seconds) == (45, 12.5)
    assert settings.node_loss.grace_seconds == 4 and settings.playback.viewer_window_seconds == 12.5


@pytest.mark.parametrize("values", ["default", "custom.yaml"])
def test_env_matches_operator_settings(values: str) -> None:
    """The chart sets exactly the settings OperatorSettings.from_env reads, and they validate."""
    from streamops.control.shared.settings import ENV_PREFIX, OperatorSettings

    objs = objects(render(*([] if values == "default" else [VALUES_DIR / values])))
    ours = {k: v for k, v in env(objs).items() if k.startswith(ENV_PREFIX)}
    fields = OperatorSettings.env_names().keys()
    assert fields - ours.keys() == set(), "OperatorSettings fields the chart does not set"
    assert ours.keys() - fields == set(), "env the operator does not read"
    settings = OperatorSettings.from_env(ours)  # raises on a value the operator would refuse
    assert settings.worker.image == ours["STREAMOPS_WORKER_IMAGE"]


# Chart defaults that differ from the operator's own on purpose.
CHART_CHOICES = {
    # The operator's default is the NodePort range; a chart install keeps host ports clear of it.
    "port_range": "40000-40999",
    # A cluster-wide install with NetworkPolicies: the operator puts the workers' into their namespaces.
    "worker_network_policies_file": "/etc/streamops/worker-network-policies/policies.yaml",
}


def test_chart_defaults_are_the_operators_defaults(default: list[dict[str, Any]]) -> None:
    """`helm install` without values behaves like the operator's documented defaults."""
    from streamops.control.shared.settings import ENV_PREFIX, OperatorSettings

    def flat(settings: OperatorSettings) -> dict[str, Any]:
        """By the setting's variable, lower-case and unprefixed (the names of CHART_CHOICES)."""
        dumped = settings.model_dump()
        return {
            name.removeprefix(ENV_PREFIX).lower(): reduce(lambda d, key: d[key], path, dumped)
            for name, path in OperatorSettings.env_names().items()
        }

    ours = {k: v for k, v in env(default).items() if k.startswith(ENV_PREFIX)}
    from_chart = flat(OperatorSettings.from_env(ours))
    builtin = flat(OperatorSettings())
    differ = {k: from_chart[k] for k in builtin if from_chart[k] != builtin[k]}
    assert differ == CHART_CHOICES


def test_custom_values(custom: list[dict[str, Any]]) -> None:
    c = container(custom)
    assert c["image"] == "registry.example.com/media/streamops-operator:0.1.0-rc1"
    assert "--namespace=studio-a" in c["args"] and "--namespace=studio-b" in c["args"]
    assert "--verbose" in c["args"]
    assert "--liveness=http://0.0.0.0:9099/healthz" in c["args"]
    (d,) = find(custom, "Deployment", "live-ops")
    pod = d["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "live-ops-sa"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert d["spec"]["template"]["metadata"]["annotations"] == {"example.com/scrape": "false"}
    (sa,) = find(custom, "ServiceAccount", "live-ops-sa")
    assert sa["metadata"]["annotations"] == {"example.com/team": "media"}
    assert "--metrics-port=9090" in c["args"] and "--metrics-address=::" in c["args"]


def test_monitors_find_workers_and_operator(custom: list[dict[str, Any]]) -> None:
    """custom.yaml turns the ServiceMonitors on: the workers' by their Services (ingests on http, edges
    on status), the recorders and pushers (no Service) by Pod, the operator's with honorLabels (its
    series name the namespace of the object they describe); the workers' target namespace wins."""
    found = find(custom, "ServiceMonitor") + find(custom, "PodMonitor")
    monitors = sorted((m["kind"], m["metadata"]["name"]) for m in found)
    assert monitors == [
        ("PodMonitor", "live-ops-workers"),
        ("ServiceMonitor", "live-ops-operator"),
        ("ServiceMonitor", "live-ops-workers"),
    ]
    (workers,) = find(custom, "ServiceMonitor", "live-ops-workers")
    (operator,) = find(custom, "ServiceMonitor", "live-ops-operator")
    (pods,) = find(custom, "PodMonitor", "live-ops-workers")
    for m in (workers, operator, pods):
        assert m["metadata"]["labels"]["release"] == "prometheus"
        assert m["metadata"]["namespace"] == "streamops-system"
    for m in (workers, pods):
        assert m["spec"]["namespaceSelector"] == {"matchNames": ["studio-a", "studio-b"]}
        assert m["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/managed-by": "streamops"}
    assert pods["spec"]["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["recorder", "pusher"]}
    ]
    http, status = workers["spec"]["endpoints"]
    # The ingests' metrics are on their internal Service's port, never on the stream's own Service.
    assert (http["port"], status["port"]) == ("internal", "status")
    edge = [r for r in http["relabelings"] if r.get("regex") == "edge"]
    assert edge[0]["action"] == "drop" and status["relabelings"][0]["action"] == "keep"
    (pod_endpoint,) = pods["spec"]["podMetricsEndpoints"]
    for endpoint in (http, status, pod_endpoint):
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
        assert endpoint["honorLabels"] is False
        assert {"targetLabel": "job", "replacement": "streamops-workers"} in endpoint["relabelings"]
        assert any(r.get("targetLabel") == "worker" for r in endpoint["relabelings"])
    (op_endpoint,) = operator["spec"]["endpoints"]
    assert op_endpoint == {"port": "metrics", "path": "/metrics", "interval": "30s", "honorLabels": True}
    assert operator["spec"]["namespaceSelector"] == {"matchNames": ["streamops-system"]}
    (service,) = find(custom, "Service", "live-ops-metrics")
    assert operator["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["ports"][0]["port"] == 9090
    # The operator's Service is the chart's (managed-by Helm): the workers' monitor never selects it.
    assert service["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_namespaced_rbac(default: list[dict[str, Any]], custom: list[dict[str, Any]]) -> None:
    """Watching namespaces: the namespaced rules move from the ClusterRole to one Role per namespace;
    the cluster-scoped ClusterQualitySets stay in it (kopf watches them cluster-wide either way)."""
    (cluster_role,) = find(default, "ClusterRole")
    resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert {"livestreams", "livestreams/status", "pods", "customresourcedefinitions"} <= resources
    assert "namespaces" not in resources  # cluster-wide kopf never lists namespaces

    no_host = objects(render(sets=("watchNamespaces[0]=studio-a",)))
    (narrow,) = find(no_host, "ClusterRole")
    cluster_scoped = {
        "customresourcedefinitions",
        "namespaces",
        "nodes",  # placement and the drain signal (handover.md)
        "clusterqualitysets",
        "clusterqualitysets/status",
    }
    assert {r for rule in narrow["rules"] for r in rule["resources"]} == cluster_scoped
    # custom.yaml also sets worker.hostNetwork: host ports are per node, so the operator lists its
    # Pods and Services in all namespaces to know which are taken (list only, nothing else).
    (narrow,) = find(custom, "ClusterRole")
    assert {r for rule in narrow["rules"] for r in rule["resources"]} == {*cluster_scoped, "pods", "services"}
    assert {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["list"]} in narrow["rules"]
    roles = find(custom, "Role", "live-ops")  # (beside the leader election Role in the release namespace)
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["studio-a", "studio-b"]
    namespaced = [rule for rule in cluster_role["rules"] if not cluster_scoped & set(rule["resources"])]
    for role in roles:
        assert role["rules"] == namespaced
    bindings = find(custom, "RoleBinding", "live-ops")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["studio-a", "studio-b"]
    for b in bindings:
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "live-ops-sa", "namespace": "streamops-system"}]
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "live-ops"}


def test_no_wildcards_and_status_is_patch_only(default: list[dict[str, Any]]) -> None:
    (cluster_role,) = find(default, "ClusterRole")
    for rule in cluster_role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        for r in rule["resources"]:
            if r.endswith("/status"):  # status is written with patch, never replaced (update)
                assert "patch" in rule["verbs"] and set(rule["verbs"]) <= {"get", "patch"}, rule


def test_crds_follow_crds_dir_and_keep(default: list[dict[str, Any]], custom: list[dict[str, Any]]) -> None:
    for crd in find(default, "CustomResourceDefinition"):
        assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        source = yaml.load((REPO / "crds" / f"{crd['metadata']['name']}.yaml").read_text(), Loader=yaml.CSafeLoader)
        assert crd["spec"] == source["spec"]
        assert crd["metadata"]["labels"] == source["metadata"]["labels"]
    for crd in find(custom, "CustomResourceDefinition"):  # crds.keep: false
        assert "annotations" not in crd["metadata"]
    without = objects(render(sets=("crds.enabled=false",)))
    assert find(without, "CustomResourceDefinition") == []


@pytest.mark.parametrize(
    ("values_file", "says"),
    [
        ("bad-unknown-key.yaml", "additional properties 'watchNamespace' not allowed"),
        ("bad-pull-policy.yaml", "image.pullPolicy"),
        ("bad-namespace.yaml", "watchNamespaces/0"),
        ("bad-port.yaml", "portRange"),
        ("bad-crds-type.yaml", "crds.enabled"),
        ("bad-resync.yaml", "resyncSeconds"),
        ("bad-size.yaml", "recordings.size"),
        ("bad-worker-resources.yaml", "additional properties 'requests' not allowed"),
        ("bad-port-order.yaml", "worker.portRange: min (31000) must not be greater than max (30000)"),
        ("bad-network-policy-cidr.yaml", "egressAllowCIDRs/0"),
        ("bad-quality-set-rendition.yaml", "qualitySets.default.renditions.0.height"),
        ("bad-region.yaml", "ingest.regions.0.externalHost"),
        ("bad-region-node-port-without-host.yaml", "ingest.regions.0"),
    ],
)
def test_bad_values_are_rejected(values_file: str, says: str) -> None:
    # helm lint reports a template's `fail` as INFO only: the schema cases must fail lint too.
    commands = [["template", "streamops"]] + ([] if "order" in values_file else [["lint"]])
    for command in commands:
        result = helm(*command, str(CHART), "-f", str(VALUES_DIR / values_file), check=False)
        assert result.returncode != 0, f"helm {command[0]} accepted {values_file}"
        out = result.stderr + result.stdout
        assert says in out.replace("/", ".") or says in out, out


def test_the_default_cluster_quality_set_is_rendered_for_the_operator_to_keep(default: list[dict[str, Any]]) -> None:
    """qualitySets.default reaches the operator, which creates the ClusterQualitySet from it when it
    is missing (not a template: Helm maps every object of a release before it creates the CRDs, so a
    first install with crds.enabled would refuse it; docs/design/quality-sets.md)."""
    from streamops.api import ClusterQualitySet
    from streamops.control.qualityset.default_set import default_quality_set
    from streamops.control.shared.settings import ENV_PREFIX, OperatorSettings

    def rendered(objs: list[dict[str, Any]]) -> dict[str, Any] | None:
        ours = {k: v for k, v in env(objs).items() if k.startswith(ENV_PREFIX)}
        return default_quality_set(OperatorSettings.from_env(ours))

    assert not find(default, "ClusterQualitySet"), "the operator makes it, not Helm"
    manifest = rendered(default)
    assert manifest is not None
    qs = ClusterQualitySet.model_validate(manifest)
    assert qs.metadata.name == "default" and qs.metadata.namespace is None
    assert [(r.name, r.height, r.video_bitrate_kbps, r.audio_bitrate_kbps) for r in qs.spec.renditions] == [
        ("1080p", 1080, 6000, 128),
        ("720p", 720, 3000, 128),
        ("480p", 480, 1500, 128),
        ("360p", 360, 800, 96),
    ]
    renamed = rendered(objects(render(sets=("qualitySets.default.name=house",))))
    assert renamed is not None and renamed["metadata"]["name"] == "house"
    disabled = objects(render(sets=("qualitySets.default.enabled=false",)))
    assert env(disabled)["STREAMOPS_DEFAULT_QUALITY_SET"] == "" and rendered(disabled) is None


def test_generated_files_are_fresh() -> None:
    """CRD templates, RBAC rules, deploy/streamops.yaml and the Argo CD ConfigMap match their
    sources (`make chart` regenerates them)."""
    result = subprocess.run(
        [sys.executable, "-m", "devtools.chart", "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_deploy_manifest_is_the_chart_without_crds() -> None:
    deploy = objects((REPO / "deploy" / "streamops.yaml").read_text())
    kinds = sorted(o["kind"] for o in deploy)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Namespace",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    (ns,) = find(deploy, "Namespace")
    assert ns["metadata"]["name"] == "streamops-system"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_cluster_role_is_the_codes_rules(default: list[dict[str, Any]]) -> None:
    """One source: the chart's cluster-wide ClusterRole is rbac.py's rules (the cluster suite runs
    its operator under those), minus namespace discovery, which kopf needs only when it watches a
    list of namespaces (then it is in the chart's ClusterRole and the rest in per-namespace Roles)."""
    from streamops.control.runtime.rbac import cluster_role_rules

    def canon(rules: list[dict[str, Any]]) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in rules)

    (cluster_role,) = find(default, "ClusterRole")
    code = [r for r in cluster_role_rules() if r["resources"] != ["namespaces"]]
    assert canon(cluster_role["rules"]) == canon(code)
    assert len(code) == len(cluster_role_rules()) - 1  # exactly the namespaces rule was left out
