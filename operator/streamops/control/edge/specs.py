"""A namespace's edge tier as manifests (docs/design/playback.md, "The edge"): pure builders of the
Deployment, its Service, autoscaler and routes ConfigMap, all named `streamops-edge`. The Deployment is
owned by every stream it serves (none is its controller: one object, many owners), so the garbage
collector takes it with the last of them; the other three are the Deployment's."""

from __future__ import annotations

from streamops.contract import edge as contract
from streamops.contract.playback_token import KEYS_SECRET
from streamops.control.shared.settings import EdgeSettings, OperatorSettings
from streamops.control.storage.recordings_claim import videos_claim
from streamops.control.workers.worker_pod import spec_hash
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
    SPEC_HASH_ANNOTATION,
)

EDGE_UID = 65532  # the image's user (nonroot)
TMP_SIZE = "64Mi"
PRE_STOP_SECONDS = 3  # nginx's pid file, temp files of proxied bodies that do not fit in memory


def edge_labels() -> dict[str, str]:
    return {
        NAME_LABEL: "streamops",
        INSTANCE_LABEL: contract.EDGE_NAME,
        COMPONENT_LABEL: contract.EDGE_COMPONENT,
        MANAGED_BY_LABEL: MANAGED_BY,
    }


def edge_selector() -> dict[str, str]:
    labels = edge_labels()
    return {k: labels[k] for k in (INSTANCE_LABEL, COMPONENT_LABEL)}


def _child_metadata(deployment: Manifest) -> Manifest:
    """The Service's, the autoscaler's and the routes': the Deployment's, named like it."""
    return {
        "name": contract.EDGE_NAME,
        "namespace": deployment["metadata"]["namespace"],
        "labels": edge_labels(),
        "ownerReferences": [_child_owner(deployment)],
    }


def _child_owner(deployment: Manifest) -> Manifest:
    meta = deployment["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        # Not True: that needs update on deployments/finalizers where OwnerReferencesPermissionEnforcement runs.
        "blockOwnerDeletion": False,
    }


_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def nginx_cache_size(quantity: str) -> str:
    """The segment files' cap (STREAMOPS_EDGE_CACHE_SIZE) for an emptyDir of `quantity` (Ki/Mi/Gi):
    90 % of it, in nginx's kilobytes, leaving room for the rendered config and temp files beside them."""
    number, unit = int(quantity[:-2]), quantity[-2:]
    return f"{number * _UNITS[unit] * 9 // 10 // 1024}k"


def edge_pod_template(namespace: str, settings: OperatorSettings) -> Manifest:
    env = [
        {"name": contract.ENV_NAMESPACE, "value": namespace},
        {"name": contract.ENV_CLUSTER_DOMAIN, "value": settings.cluster_domain},
        {"name": contract.ENV_CACHE_SIZE, "value": nginx_cache_size(settings.edge.cache_size)},
        # Sent to the ingest with every origin request (EDGE_HEADER): whose request it was.
        {"name": contract.ENV_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    if settings.playback.trusted_proxy_cidrs:  # unset otherwise: an edge deployed before it existed stays as it was
        env.append({"name": contract.ENV_TRUSTED_PROXIES, "value": " ".join(settings.playback.trusted_proxy_cidrs)})
    if settings.playback.viewer_window_seconds != contract.VIEWER_WINDOW_SECONDS:  # likewise
        env.append(
            {"name": contract.ENV_VIEWER_WINDOW_SECONDS, "value": f"{settings.playback.viewer_window_seconds:g}"}
        )
    probe = {"httpGet": {"path": contract.HEALTH_PATH, "port": "status"}, "periodSeconds": 5}
    container: Manifest = {
        "name": "edge",
        "image": settings.edge.image,
        "imagePullPolicy": settings.edge.image_pull_policy,
        "env": env,
        "ports": [
            {"name": "http", "containerPort": contract.HTTP_PORT, "protocol": "TCP"},
            {"name": "status", "containerPort": contract.STATUS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {**probe, "periodSeconds": 2},
        # Out of the Service's endpoints (and Traefik's) before nginx stops taking requests: a viewer's
        # next request goes to another replica instead of a closed port. Then the image's STOPSIGNAL
        # (SIGQUIT, nginx's graceful quit) lets the requests in flight finish.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": settings.edge.resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "cache", "mountPath": contract.STATE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "keys", "mountPath": contract.KEYS_DIR, "readOnly": True},
            {"name": "routes", "mountPath": contract.ROUTES_DIR, "readOnly": True},
        ],
    }
    spec: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        # Viewers reconnect to another replica: a stopping one finishes what it sends (a part, a
        # blocking reload of at most a few seconds) and takes nothing new once unready.
        "terminationGracePeriodSeconds": 10,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": EDGE_UID,
            "runAsGroup": EDGE_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": settings.edge.cache_size}},
            {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}},
            {"name": "keys", "secret": {"secretName": KEYS_SECRET, "optional": True}},
            {"name": "routes", "configMap": {"name": contract.EDGE_NAME, "optional": True}},
        ],
        # Replicas on different nodes: a node lost takes one replica's viewers, who reconnect.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": edge_selector()},
            }
        ],
    }
    geoip = settings.playback.geoip
    if geoip is not None:  # unset otherwise: an edge deployed before it existed stays as it was
        env.append({"name": contract.ENV_GEOIP_FILE, "value": f"{contract.GEOIP_DIR}/{geoip.file}"})
        container["volumeMounts"].append({"name": "geoip", "mountPath": contract.GEOIP_DIR, "readOnly": True})
        spec["volumes"].append({"name": "geoip", **geoip.volume})
    claim = videos_claim(settings.recordings)
    if claim is not None:  # unset otherwise: an edge deployed before it existed stays as it was
        mount = {"name": "recordings", "mountPath": f"{contract.RECORDINGS_DIR}/{claim}", "readOnly": True}
        container["volumeMounts"].append(mount)
        spec["volumes"].append({"name": "recordings", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
    return {"metadata": {"labels": edge_labels()}, "spec": spec}


def edge_deployment(namespace: str, settings: OperatorSettings, owners: list[Manifest]) -> Manifest:
    template = edge_pod_template(namespace, settings)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": contract.EDGE_NAME,
            "namespace": namespace,
            "labels": edge_labels(),
            "annotations": {SPEC_HASH_ANNOTATION: spec_hash(template)},
            "ownerReferences": owners,
        },
        "spec": {
            # The autoscaler owns the number after creation: a patch of the template leaves it alone.
            "replicas": settings.edge.replicas,
            "selector": {"matchLabels": edge_selector()},
            # A rollout never takes a replica away before its successor serves.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": template,
        },
    }


def edge_service(deployment: Manifest) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _child_metadata(deployment),
        "spec": {
            "type": "ClusterIP",
            "selector": edge_selector(),
            "ports": [
                {"name": "http", "port": contract.HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                {"name": "status", "port": contract.STATUS_PORT, "targetPort": "status", "protocol": "TCP"},
            ],
        },
    }


def edge_autoscaler(deployment: Manifest, edge: EdgeSettings) -> Manifest:
    """CPU-based, as the edge's work is proportional to requests served (bench/results/playback.md)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _child_metadata(deployment),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": contract.EDGE_NAME},
            "minReplicas": edge.replicas,
            "maxReplicas": max(edge.max_replicas, edge.replicas),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": edge.target_cpu_percent},
                    },
                }
            ],
        },
    }


def parse_routes(text: str) -> dict[str, str]:
    """The routes file: `<path prefix> <stream name>[ public]` a line (prefix -> the rest)."""
    routes: dict[str, str] = {}
    for line in text.splitlines():
        prefix, _, rest = line.strip().partition(" ")
        if prefix and rest:
            routes[prefix] = rest.strip()
    return routes


def render_routes(routes: dict[str, str]) -> str:
    return "".join(f"{prefix} {rest}\n" for prefix, rest in sorted(routes.items()))


def edge_routes(deployment: Manifest, routes: dict[str, str], rules: dict[str, str] | None = None) -> Manifest:
    """`rules`: "<stream>.rules" -> the stream's rules file (plan.rules_files)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _child_metadata(deployment),
        "data": {contract.ROUTES_FILE: render_routes(routes), **(rules or {})},
    }
