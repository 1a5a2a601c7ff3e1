"""Pure builders of a LiveStream's ingest children: stream-key Secret, ingest Pods and Services."""

from __future__ import annotations

import hashlib
import json
from base64 import b64encode
from dataclasses import dataclass
from typing import Any, Literal

from streamops.api import LiveStream
from streamops.api.common import SecretKeyRef
from streamops.api.livestream import IngestEndpoints, Playback
from streamops.control.naming import (
    SPEC_HASH_ANNOTATION,
    STREAM_NAME_ANNOTATION,
    child_labels,
    child_name,
    owner_reference,
)
from streamops.control.settings import OperatorSettings

Role = Literal["primary", "backup"]

RTMP_PORT = 1935
SRT_PORT = 9998
HTTP_PORT = 8080
WORKER_UID = 10001
STREAM_KEY_DIR = "/var/run/secrets/streamops/stream-key"
STREAM_KEY_FILE = "stream-key"
MEDIA_DIR = "/var/lib/streamops"
GENERATED_KEY_NAME = "streamKey"


@dataclass(frozen=True)
class IngestNames:
    pod: str
    service: str
    component: str


def ingest_names(stream_name: str, role: Role) -> IngestNames:
    component = "ingest" if role == "primary" else "ingest-backup"
    name = child_name(stream_name, component)
    return IngestNames(pod=name, service=name, component=component)


def ingest_roles(stream: LiveStream) -> list[Role]:
    push = stream.spec.source.push
    return ["primary", "backup"] if push and push.backup else ["primary"]


def stream_key_ref(stream: LiveStream) -> SecretKeyRef | None:
    """Where the stream key lives: the referenced Secret, or the generated one. None for pull streams."""
    push = stream.spec.source.push
    if push is None:
        return None
    if push.stream_key_secret_ref is not None:
        return push.stream_key_secret_ref
    return SecretKeyRef(name=child_name(stream.metadata.name, "stream-key")[:253], key=GENERATED_KEY_NAME)


def _owner(stream: LiveStream) -> dict[str, Any]:
    assert stream.metadata.uid, "an object read from the API server has a uid"
    return owner_reference(stream.kind, stream.metadata.name, stream.metadata.uid)


def _metadata(stream: LiveStream, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": stream.metadata.namespace,
        "labels": child_labels(stream.metadata.name, component),
        "annotations": {STREAM_NAME_ANNOTATION: stream.metadata.name},
        "ownerReferences": [_owner(stream)],
    }


def stream_key_secret(stream: LiveStream, key: str) -> dict[str, Any]:
    """The generated stream-key Secret (owned by the stream: it goes away with it)."""
    ref = stream_key_ref(stream)
    assert ref is not None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(stream, ref.name, "stream-key"),
        "data": {ref.key: b64encode(key.encode()).decode()},
    }


def ingest_worker_config(stream: LiveStream, role: Role) -> dict[str, Any]:
    """What the ingest worker needs from the spec. Title, active, recording and resources are
    left out on purpose: changing them must not restart a live ingest."""
    spec = stream.spec
    config: dict[str, Any] = {
        "stream": stream.metadata.name,
        "role": role,
        "source": spec.source.wire(),
        "dvr": spec.dvr.wire(),
        "hls": spec.hls.wire(),
        "screenshots": spec.screenshots.wire(),
        "ports": {"rtmp": RTMP_PORT, "srt": SRT_PORT, "http": HTTP_PORT},
        "mediaDir": MEDIA_DIR,
    }
    if spec.transcoding:
        config["transcoding"] = spec.transcoding.wire()
    if spec.source.push:
        config["source"]["push"].pop("streamKeySecretRef", None)
        config["streamKeyFile"] = f"{STREAM_KEY_DIR}/{STREAM_KEY_FILE}"
    return config


def _resources(stream: LiveStream) -> dict[str, Any]:
    if stream.spec.resources:
        return stream.spec.resources.wire()
    # Copy remux measured at ≈2% of a core and ≈56 MB RSS; a 720p+360p x264 ladder at ≈80%.
    if stream.spec.transcoding and stream.spec.transcoding.renditions:
        return {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    return {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "512Mi"}}


def _ports(stream: LiveStream) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}]
    push = stream.spec.source.push
    if push and "rtmp" in push.protocols:
        ports.append({"name": "rtmp", "containerPort": RTMP_PORT, "protocol": "TCP"})
    if push and "srt" in push.protocols:
        ports.append({"name": "srt", "containerPort": SRT_PORT, "protocol": "UDP"})
    return ports


def spec_hash(pod_spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(pod_spec, sort_keys=True).encode()).hexdigest()[:16]


def ingest_pod(stream: LiveStream, role: Role, settings: OperatorSettings) -> dict[str, Any]:
    names = ingest_names(stream.metadata.name, role)
    key_ref = stream_key_ref(stream)
    volumes: list[dict[str, Any]] = [{"name": "media", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "media", "mountPath": MEDIA_DIR}]
    if key_ref is not None:
        # Mounted, not an env var: a rotated Secret reaches the running worker without a restart.
        volumes.append(
            {
                "name": "stream-key",
                "secret": {
                    "secretName": key_ref.name,
                    "items": [{"key": key_ref.key, "path": STREAM_KEY_FILE}],
                },
            }
        )
        mounts.append({"name": "stream-key", "mountPath": STREAM_KEY_DIR, "readOnly": True})
    probe_timing = {"periodSeconds": 1, "timeoutSeconds": 1}
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 15,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "ingest",
                "image": settings.worker_image,
                "imagePullPolicy": settings.worker_image_pull_policy,
                "args": ["worker", "ingest"],
                "env": [
                    {
                        "name": "STREAMOPS_INGEST_CONFIG",
                        "value": json.dumps(ingest_worker_config(stream, role), sort_keys=True),
                    }
                ],
                "ports": _ports(stream),
                # Ready only while media flows (the worker decides): that is what `live` means.
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, **probe_timing},
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "http"},
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                },
                "resources": _resources(stream),
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    metadata = _metadata(stream, names.pod, names.component)
    metadata["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def ingest_service(stream: LiveStream, role: Role) -> dict[str, Any]:
    names = ingest_names(stream.metadata.name, role)
    ports = [
        {"name": p["name"], "port": p["containerPort"], "targetPort": p["name"], "protocol": p["protocol"]}
        for p in _ports(stream)
    ]
    labels = child_labels(stream.metadata.name, names.component)
    selector = {k: labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/component")}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(stream, names.service, names.component),
        "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
    }


def _host(stream: LiveStream, role: Role) -> str:
    return f"{ingest_names(stream.metadata.name, role).service}.{stream.metadata.namespace}.svc"


def ingest_endpoints(stream: LiveStream) -> IngestEndpoints | None:
    """OBS-style: server URL (the key goes in the encoder's key field) and the key's Secret name."""
    push = stream.spec.source.push
    if push is None:
        return None
    urls: dict[str, str] = {}
    for role, prefix in (("primary", ""), ("backup", "backup_")):
        if role not in ingest_roles(stream):
            continue
        host = _host(stream, role)
        if "rtmp" in push.protocols:
            urls[f"{prefix}push_url"] = f"rtmp://{host}:{RTMP_PORT}/live"
        if "srt" in push.protocols:
            urls[f"{prefix}push_url_srt"] = f"srt://{host}:{SRT_PORT}"
    key_ref = stream_key_ref(stream)
    return IngestEndpoints(stream_key_secret=key_ref.name if key_ref else None, **urls)


def playback_urls(stream: LiveStream) -> Playback:
    base = f"http://{_host(stream, 'primary')}:{HTTP_PORT}"
    hls = stream.spec.hls
    return Playback(
        hls_cmaf_url=f"{base}/hls/cmaf/index.m3u8" if hls.cmaf else None,
        hls_mpegts_url=f"{base}/hls/ts/index.m3u8" if hls.mpegts else None,
        screenshot_url=f"{base}/screenshot.jpg" if stream.spec.screenshots.enabled else None,
    )
