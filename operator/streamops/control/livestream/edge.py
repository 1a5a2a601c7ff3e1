"""A namespace's edge tier and playback keys, as its LiveStreams want them (docs/design/playback.md).

The edge (Deployment, Service, HorizontalPodAutoscaler, routes ConfigMap, all `streamops-edge`) is
shared by the namespace's streams that serve viewers through it: every such stream is an owner of
the Deployment (not a controller: one object, many owners), so the garbage collector removes it
with the last of them and nothing is left when the operator is uninstalled; the Service, the
autoscaler and the ConfigMap are the Deployment's. A stream that no longer wants the edge takes
itself off the owners, and the last one deletes it. Owners and routes are rewritten with the
resourceVersion read (PUT): two streams reconciling at once cannot lose each other's entry; the one
refused does it again at its next reconcile.

The playback keys Secret is created once per namespace, the first time a signed stream needs it,
and owned by nothing: tokens handed out must keep working whatever happens to the streams.
"""

from __future__ import annotations

import secrets
from base64 import b64encode
from datetime import UTC, datetime

from streamops.api import LiveStream
from streamops.contract import edge as contract
from streamops.contract.playback_token import CURRENT_KEY, KEY_BYTES, KEYS_SECRET, ROTATED_AT_ANNOTATION
from streamops.control.shared.settings import EdgeSettings, OperatorSettings
from streamops.control.storage.recordings_claim import recordings_claim, videos_claim
from streamops.control.workers.worker_pod import spec_hash
from streamops.kube.client import KubeApi
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


def default_playback_path(stream: LiveStream) -> str:
    return f"/streams/{stream.metadata.namespace}/{stream.metadata.name}"


def _stream_owner(stream: LiveStream) -> Manifest:
    assert stream.metadata.uid
    return {
        "apiVersion": stream.api_version,
        "kind": stream.kind,
        "name": stream.metadata.name,
        "uid": stream.metadata.uid,
        "blockOwnerDeletion": False,
    }


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
        # next request goes to another replica instead of a closed port.
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


def edge_routes(deployment: Manifest, routes: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _child_metadata(deployment),
        "data": {contract.ROUTES_FILE: render_routes(routes)},
    }


def playback_keys_secret(namespace: str, now: datetime) -> Manifest:
    """A namespace's first signing key (rotation: `streamops playback rotate-key`)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": KEYS_SECRET,
            "namespace": namespace,
            "labels": {NAME_LABEL: "streamops", MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {ROTATED_AT_ANNOTATION: now.astimezone(UTC).isoformat().replace("+00:00", "Z")},
        },
        "data": {CURRENT_KEY: b64encode(secrets.token_bytes(KEY_BYTES)).decode()},
    }


# --- what a reconcile does ---------------------------------------------------------------------------


def ensure_playback_keys(api: KubeApi, namespace: str) -> None:
    """Create the namespace's keys Secret when missing (never replaced: a 409 means it exists)."""
    if api.get("Secret", namespace, KEYS_SECRET) is None:
        api.create(playback_keys_secret(namespace, datetime.now(UTC)))


def route_line(stream: LiveStream, public: bool) -> str:
    """The stream's entry in the edge's routes file (the edge's contract: media/edge/__init__.py's
    routes_file), on its playback path: the edge serves the streams listed there and nothing else;
    `public` so that the edge strips a token unverified (a public stream ignores one,
    docs/design/playback.md)."""
    return f"{stream.metadata.name}{' public' if public else ''}"


def ensure_edge(
    api: KubeApi, stream: LiveStream, settings: OperatorSettings, wanted: bool, path: str, public: bool = True
) -> None:
    """The namespace's edge with `stream` among its owners (and its line among the routes when it
    route_line: every stream it serves has one), or without it."""
    namespace, uid = stream.metadata.namespace or "", stream.metadata.uid
    current = api.get("Deployment", namespace, contract.EDGE_NAME)
    owners: list[Manifest] = list((current or {}).get("metadata", {}).get("ownerReferences") or [])
    owned = any(o.get("uid") == uid for o in owners)
    if not wanted:
        if current is None or not owned:
            return
        rest = [o for o in owners if o.get("uid") != uid]
        if not rest:
            api.delete("Deployment", namespace, contract.EDGE_NAME, current["metadata"]["uid"])
            return
        api.replace({**current, "metadata": {**current["metadata"], "ownerReferences": rest}})
        _ensure_route(api, current, stream, None)
        return
    desired = edge_deployment(namespace, settings, [*owners, _stream_owner(stream)] if not owned else owners)
    claim = videos_claim(settings.recordings)
    if claim is not None and api.get("PersistentVolumeClaim", namespace, claim) is None:
        api.create(recordings_claim(namespace, settings.recordings))  # before the Pods that mount it
    if current is None:
        current = api.create(desired)
        if current is None:  # another stream's reconcile created it first: next reconcile joins it
            return
    else:
        hash_now = (current["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
        want_hash = desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        if not owned or hash_now != want_hash:
            spec = {**current["spec"], "template": desired["spec"]["template"]}
            meta = {
                **current["metadata"],
                "ownerReferences": desired["metadata"]["ownerReferences"],
                "annotations": {**(current["metadata"].get("annotations") or {}), SPEC_HASH_ANNOTATION: want_hash},
            }
            current = api.replace({**current, "metadata": meta, "spec": spec}) or current
    if api.get("Service", namespace, contract.EDGE_NAME) is None:
        api.create(edge_service(current))
    _ensure_autoscaler(api, current, settings.edge)
    _ensure_route(api, current, stream, (path, route_line(stream, public)))


def _ensure_autoscaler(api: KubeApi, deployment: Manifest, edge: EdgeSettings) -> None:
    """The autoscaler as the operator's settings want it: a `helm upgrade` that changes the edge's
    replicas or CPU target reaches every namespace's edge at its next reconcile (a conflict is
    retried then too). Only the fields set here are compared and written: what the API server
    defaults (behavior) and the controller's status stay."""
    namespace = deployment["metadata"]["namespace"]
    desired = edge_autoscaler(deployment, edge)
    current = api.get("HorizontalPodAutoscaler", namespace, contract.EDGE_NAME)
    if current is None:
        api.create(desired)
    elif any((current.get("spec") or {}).get(k) != v for k, v in desired["spec"].items()):
        api.replace({**current, "spec": {**(current.get("spec") or {}), **desired["spec"]}})


def _ensure_route(api: KubeApi, deployment: Manifest, stream: LiveStream, entry: tuple[str, str] | None) -> None:
    """The stream's (prefix, line) in the routes ConfigMap (None: not there)."""
    namespace, name = deployment["metadata"]["namespace"], stream.metadata.name
    current = api.get("ConfigMap", namespace, contract.EDGE_NAME)
    routes = parse_routes(((current or {}).get("data") or {}).get(contract.ROUTES_FILE, ""))
    wanted = {p: rest for p, rest in routes.items() if rest.split()[0] != name}
    if entry is not None:
        wanted[entry[0]] = entry[1]
    # Written before the edge served only listed streams, a signed stream on its default path had no
    # line: the other owners get theirs here, so an upgrade does not wait for each one's reconcile.
    listed = {rest.split()[0] for rest in wanted.values()}
    for owner in deployment["metadata"].get("ownerReferences") or []:
        other = owner.get("name")
        if owner.get("kind") == stream.kind and other and other != name and other not in listed:
            wanted[f"/streams/{namespace}/{other}"] = other
    if wanted == routes and current is not None:
        return
    if current is None:
        if entry is not None:
            api.create(edge_routes(deployment, wanted))
        return
    api.replace({**current, "data": {contract.ROUTES_FILE: render_routes(wanted)}})
