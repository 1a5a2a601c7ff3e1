"""Pure builders of a LiveStream's ingest children (stream-key Secret, ingest Pods and Services) and
of the ingest's URLs (push endpoints, playback, the live feed recorders and pushers read)."""

from __future__ import annotations

import json
from base64 import b64encode
from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.common import SecretKeyRef
from streamops.api.livestream import IngestEndpoints, Playback
from streamops.contract.ingest import (
    CONFIG_ENV,
    FEED_PATH,
    HLS_CMAF_PLAYLIST,
    HLS_MPEGTS_PLAYLIST,
    MEDIA_DIR,
    SCREENSHOT_PATH,
    STREAM_KEY_DIR,
    STREAM_KEY_FILE,
    TRANSCODED_FEED_PATH,
    IngestConfig,
    IngestPorts,
    Role,
)
from streamops.control.shared.manifests import Manifest
from streamops.control.shared.naming import (
    HOST_PORTS_ANNOTATION,
    STREAM_NAME_ANNOTATION,
    child_labels,
    child_name,
    owner_reference,
)
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.worker_pod import WorkerContainer, secret_file_volume, worker_pod

GENERATED_KEY_NAME = "streamKey"


@dataclass(frozen=True)
class IngestNames:
    pod: str
    service: str
    component: str


def ingest_component(role: Role) -> str:
    """The component label of a role's ingest Pod and Service."""
    return "ingest" if role == "primary" else "ingest-backup"


def ingest_names(stream_name: str, role: Role) -> IngestNames:
    component = ingest_component(role)
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


def _owner(stream: LiveStream) -> Manifest:
    assert stream.metadata.uid, "an object read from the API server has a uid"
    return owner_reference(stream.kind, stream.metadata.name, stream.metadata.uid)


def _metadata(stream: LiveStream, name: str, component: str) -> Manifest:
    return {
        "name": name,
        "namespace": stream.metadata.namespace,
        "labels": child_labels(stream.metadata.name, component),
        "annotations": {STREAM_NAME_ANNOTATION: stream.metadata.name},
        "ownerReferences": [_owner(stream)],
    }


def stream_key_secret(stream: LiveStream, key: str) -> Manifest:
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


IngestPortMap = dict[str, int]  # "http", "rtmp", "srt" -> port: a host-port allocation, or the pod network's
POD_NETWORK_PORTS: IngestPortMap = IngestPorts().model_dump()
PORT_NAMES = tuple(POD_NETWORK_PORTS)


def ingest_worker_config(
    stream: LiveStream, role: Role, ports: IngestPortMap | None = None, bind_address: str = "0.0.0.0"
) -> IngestConfig:
    """What the ingest worker needs from the spec (see IngestConfig)."""
    spec = stream.spec
    source, key_file = spec.source, None
    if source.push:
        # The worker reads the key from the mounted file; the Secret's name is the operator's business.
        # `backup` is the operator's too (it runs a second ingest): in the config it would make adding
        # a backup roll the live primary ingest (its spec hash) and cut off its publisher.
        push = source.push.model_copy(update={"stream_key_secret_ref": None, "backup": False})
        source = source.model_copy(update={"push": push})
        key_file = f"{STREAM_KEY_DIR}/{STREAM_KEY_FILE}"
    return IngestConfig(
        stream=stream.metadata.name,
        role=role,
        source=source,
        dvr=spec.dvr,
        hls=spec.hls,
        screenshots=spec.screenshots,
        transcoding=spec.transcoding,
        ports=IngestPorts.model_validate(ports or POD_NETWORK_PORTS),
        media_dir=MEDIA_DIR,
        stream_key_file=key_file,
        bind_address=bind_address,
    )


def _resources(stream: LiveStream) -> Manifest:
    if stream.spec.resources:
        return stream.spec.resources.wire()
    # Copy remux measured at ≈2% of a core and ≈56 MB RSS; a 720p+360p x264 ladder at ≈80%.
    if stream.spec.transcoding and stream.spec.transcoding.renditions:
        return {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    return {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "512Mi"}}


def _ports(stream: LiveStream, ports: IngestPortMap | None = None) -> dict[str, tuple[int, str]]:
    ports = ports or POD_NETWORK_PORTS
    out = {"http": (ports["http"], "TCP")}
    push = stream.spec.source.push
    if push and "rtmp" in push.protocols:
        out["rtmp"] = (ports["rtmp"], "TCP")
    if push and "srt" in push.protocols:
        out["srt"] = (ports["srt"], "UDP")
    return out


def ingest_pod(
    stream: LiveStream, role: Role, settings: OperatorSettings, host_ports: IngestPortMap | None = None
) -> Manifest:
    """`host_ports`: the stream's allocation when workers run on the host network."""
    names = ingest_names(stream.metadata.name, role)
    key_ref = stream_key_ref(stream)
    volumes: list[Manifest] = [{"name": "media", "emptyDir": {}}]
    mounts: list[Manifest] = [{"name": "media", "mountPath": MEDIA_DIR}]
    if key_ref is not None:
        volumes.append(secret_file_volume("stream-key", key_ref.name, key_ref.key, STREAM_KEY_FILE))
        mounts.append({"name": "stream-key", "mountPath": STREAM_KEY_DIR, "readOnly": True})
    worker = WorkerContainer(
        name="ingest",
        config_env=CONFIG_ENV,
        config=ingest_worker_config(stream, role, host_ports, settings.worker_bind_address),
        # Ready only while media flows (the worker decides): that is what `live` means.
        ports=_ports(stream, host_ports),
        resources=_resources(stream),
        volumes=volumes,
        mounts=mounts,
    )
    return worker_pod(_metadata(stream, names.pod, names.component), worker, settings, host_ports)


def ingest_service(stream: LiveStream, role: Role, host_ports: IngestPortMap | None = None) -> Manifest:
    """With host networking the allocation is recorded here: the Service outlives the Pods."""
    names = ingest_names(stream.metadata.name, role)
    ports = [
        {"name": name, "port": port, "targetPort": name, "protocol": protocol}
        for name, (port, protocol) in _ports(stream, host_ports).items()
    ]
    labels = child_labels(stream.metadata.name, names.component)
    selector = {k: labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/component")}
    metadata = _metadata(stream, names.service, names.component)
    if host_ports is not None:
        metadata["annotations"][HOST_PORTS_ANNOTATION] = json.dumps(host_ports, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
    }


def ingest_host(stream: LiveStream, role: Role, worker_address: str = "") -> str:
    """Where the ingest is reached: the configured worker address, else the Service's DNS name."""
    return worker_address or f"{ingest_names(stream.metadata.name, role).service}.{stream.metadata.namespace}.svc"


def ingest_endpoints(
    stream: LiveStream, worker_address: str = "", ports: dict[Role, IngestPortMap] | None = None
) -> IngestEndpoints | None:
    """OBS-style: server URL (the key goes in the encoder's key field) and the key's Secret name."""
    push = stream.spec.source.push
    if push is None:
        return None
    urls: dict[str, str] = {}
    for role, prefix in (("primary", ""), ("backup", "backup_")):
        if role not in ingest_roles(stream):
            continue
        host = ingest_host(stream, role, worker_address)
        role_ports = (ports or {}).get(role) or POD_NETWORK_PORTS
        if "rtmp" in push.protocols:
            urls[f"{prefix}push_url"] = f"rtmp://{host}:{role_ports['rtmp']}/live"
        if "srt" in push.protocols:
            urls[f"{prefix}push_url_srt"] = f"srt://{host}:{role_ports['srt']}"
    key_ref = stream_key_ref(stream)
    return IngestEndpoints(stream_key_secret=key_ref.name if key_ref else None, **urls)


def ingest_http_url(stream: LiveStream, worker_address: str = "", ports: IngestPortMap | None = None) -> str:
    """Base URL of the primary ingest's HTTP face (HLS, screenshot, the live feed)."""
    return f"http://{ingest_host(stream, 'primary', worker_address)}:{(ports or POD_NETWORK_PORTS)['http']}"


def feed_url(stream: LiveStream, type_: str, worker_address: str, ingest_ports: IngestPortMap | None) -> str:
    """The live feed recorders and pushers read from the primary ingest (`type_` transcoded: the
    transcoded ladder's, else the origin)."""
    base = ingest_http_url(stream, worker_address, ingest_ports)
    return f"{base}{TRANSCODED_FEED_PATH}" if type_ == "transcoded" else f"{base}{FEED_PATH}"


def playback_urls(stream: LiveStream, worker_address: str = "", ports: IngestPortMap | None = None) -> Playback:
    base = ingest_http_url(stream, worker_address, ports)
    hls = stream.spec.hls
    return Playback(
        hls_cmaf_url=f"{base}{HLS_CMAF_PLAYLIST}" if hls.cmaf else None,
        hls_mpegts_url=f"{base}{HLS_MPEGTS_PLAYLIST}" if hls.mpegts else None,
        screenshot_url=f"{base}{SCREENSHOT_PATH}" if stream.spec.screenshots.enabled else None,
    )
