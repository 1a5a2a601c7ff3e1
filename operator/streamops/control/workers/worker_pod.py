"""The Pod every worker (ingest, recorder, pusher) runs in: one restricted container, probes on the
worker's HTTP face, optional host networking with allocated ports, and a spec hash that says when
a running Pod no longer matches what the spec asks for."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from streamops.contract.worker import HEALTH_PATH, POD_GRACE_SECONDS, PRIVATE_DIR, READY_PATH, WorkerConfig
from streamops.contract.worker_credential import CREDENTIAL_DIR, CREDENTIAL_KEY
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.node_loss import node_loss_tolerations
from streamops.control.workers.restarts import SPEC_PARTS_ANNOTATION, config_parts, spec_parts
from streamops.kube.manifests import Manifest
from streamops.kube.naming import HOST_PORTS_ANNOTATION, SPEC_HASH_ANNOTATION

WORKER_UID = 10001
# Readiness routes Services (an ingest is Ready once it accepts publishers); `live` never follows it
# (the operator reads /status). A short period lets a new ingest take pushes within a second.
READY_PERIOD_SECONDS = 1


def spec_hash(pod_spec: Manifest) -> str:
    return hashlib.sha256(json.dumps(pod_spec, sort_keys=True).encode()).hexdigest()[:16]


def secret_file_volume(volume: str, secret: str, key: str, path: str, optional: bool = False) -> Manifest:
    """A Secret key as a file (mounted, not an env var: a rotated Secret reaches the running worker).
    `optional`: the Pod starts without the Secret or its key (the file is then absent until they exist)."""
    source: Manifest = {"secretName": secret, "items": [{"key": key, "path": path}]}
    if optional:
        source["optional"] = True
    return {"name": volume, "secret": source}


def secret_files_volume(
    volume: str, secret: str, files: dict[str, str], mode: int | None = None, optional: bool = False
) -> Manifest:
    """Several keys of a Secret as files (key -> path), with `mode` (octal, e.g. 0o440) when given;
    `optional` as secret_file_volume's."""
    source: Manifest = {"secretName": secret, "items": [{"key": k, "path": p} for k, p in files.items()]}
    if mode is not None:
        source["defaultMode"] = mode
    if optional:
        source["optional"] = True
    return {"name": volume, "secret": source}


@dataclass(frozen=True)
class WorkerContainer:
    name: str  # also the `streamops worker <name>` argument
    config_env: str
    config: WorkerConfig
    ports: dict[str, tuple[int, str]]  # name -> (port, protocol); must contain "http"
    resources: Manifest
    volumes: list[Manifest] = field(default_factory=list)
    mounts: list[Manifest] = field(default_factory=list)
    env: list[Manifest] = field(default_factory=list)  # beside the configuration (e.g. the downward API's)
    # The stream's worker credential Secret (contract.worker_credential), mounted at CREDENTIAL_DIR
    # with the private directory its feed readers' FFmpeg argument files go to; its config names it.
    credential_secret: str | None = None


CREDENTIAL_VOLUME = "worker-credential"
PRIVATE_VOLUME = "private"


def credential_volumes(worker: WorkerContainer) -> tuple[list[Manifest], list[Manifest]]:
    """The worker's volumes and mounts with the credential's (and the private directory, once)."""
    volumes, mounts = list(worker.volumes), list(worker.mounts)
    if worker.credential_secret is None:
        return volumes, mounts
    # Group-readable only: fsGroup makes the worker's group own it. Not optional: the operator
    # creates the Secret before the stream's first Pod, and a worker without it could talk to no one.
    files = {CREDENTIAL_KEY: CREDENTIAL_KEY}
    volumes.append(secret_files_volume(CREDENTIAL_VOLUME, worker.credential_secret, files, mode=0o440))
    mounts.append({"name": CREDENTIAL_VOLUME, "mountPath": CREDENTIAL_DIR, "readOnly": True})
    if not any(m.get("mountPath") == PRIVATE_DIR for m in mounts):  # the pusher has its own already
        volumes.append({"name": PRIVATE_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
        mounts.append({"name": PRIVATE_VOLUME, "mountPath": PRIVATE_DIR})
    return volumes, mounts


def worker_pod(
    metadata: Manifest,
    worker: WorkerContainer,
    settings: OperatorSettings,
    host_ports: dict[str, int] | None,
    affinity: Manifest | None = None,
    grace_seconds: int = POD_GRACE_SECONDS,
    sidecars: list[Manifest] | None = None,
) -> Manifest:
    """`metadata` carries name, namespace, labels, annotations, ownerReferences; `host_ports` is the
    allocation when the operator runs workers on the host network (then container ports = host ports);
    `affinity` where the Pod must run (recorders next to their ReadWriteOnce claim); `grace_seconds`
    how long it may take to exit after SIGTERM; `sidecars`: more containers (the ingest's overlay
    renderer), each with the worker's restricted securityContext added."""
    volumes, mounts = credential_volumes(worker)
    spec: Manifest = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": worker.name,
                "image": settings.worker.image,
                "imagePullPolicy": settings.worker.image_pull_policy,
                "args": ["worker", worker.name],
                "env": [{"name": worker.config_env, "value": worker.config.to_json()}, *worker.env],
                "ports": [
                    {"name": name, "containerPort": port, "protocol": protocol}
                    for name, (port, protocol) in worker.ports.items()
                ],
                "readinessProbe": {
                    "httpGet": {"path": READY_PATH, "port": "http"},
                    "periodSeconds": READY_PERIOD_SECONDS,
                    "timeoutSeconds": 1,
                },
                "livenessProbe": {
                    "httpGet": {"path": HEALTH_PATH, "port": "http"},
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                },
                "resources": worker.resources,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
        # Evicted soon from a lost node (not after Kubernetes' default 300 s): see node_loss.py.
        "tolerations": node_loss_tolerations(settings.node_loss.toleration_seconds),
    }
    for sidecar in sidecars or []:
        spec["containers"].append({**sidecar, "securityContext": dict(spec["containers"][0]["securityContext"])})
    if affinity is not None:
        spec["affinity"] = affinity
    if host_ports is not None:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
        if settings.worker.bind_address not in ("", "0.0.0.0", "::"):
            # The kubelet probes the Pod IP, which on the host network is the node's address; a
            # worker bound to one address (e.g. 127.0.0.1) is only reachable there.
            for probe in ("readinessProbe", "livenessProbe"):
                spec["containers"][0][probe]["httpGet"]["host"] = settings.worker.bind_address
    meta = {**metadata, "annotations": dict(metadata.get("annotations") or {})}
    meta["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(spec)
    parts = {**config_parts(worker.config), **spec_parts(spec, worker.config_env)}
    meta["annotations"][SPEC_PARTS_ANNOTATION] = json.dumps(parts, separators=(",", ":"))
    if host_ports is not None:
        meta["annotations"][HOST_PORTS_ANNOTATION] = json.dumps(host_ports, sort_keys=True)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
