"""Pure builders of a Restream's children: the pusher Pod, and the owner reference that makes the
Restream go away with its stream."""

from __future__ import annotations

from streamops.api import API_VERSION, LiveStream, Restream
from streamops.contract.pusher import CONFIG_ENV, PRIVATE_DIR, TARGET_KEY_DIR, TARGET_KEY_FILE, PusherConfig
from streamops.contract.worker import HTTP_PORT
from streamops.contract.worker_credential import CREDENTIAL_FILE, credential_secret_name
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.ingest_address import IngestPortMap, feed_url
from streamops.control.workers.worker_pod import WorkerContainer, secret_file_volume, worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    RESTREAM_LABEL,
    STREAM_NAME_ANNOTATION,
    child_labels,
    child_name,
    label_value,
    owner_reference,
)

PUSHER_COMPONENT = "pusher"


def pusher_pod_name(restream_name: str) -> str:
    return child_name(restream_name, "pusher")


def pusher_config(
    restream: Restream,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None,
    http_port: int,
) -> PusherConfig:
    spec = restream.spec
    source = "transcoded" if spec.source == "transcoded" else "origin"
    return PusherConfig(
        name=restream.metadata.name,
        stream=spec.stream_ref.name,
        feed_url=feed_url(stream, source, settings.worker_address, ingest_ports),
        uri=spec.uri,
        no_audio_mode=spec.no_audio_mode,
        http_host=settings.worker_bind_address,
        http_port=http_port,
        stream_key_file=f"{TARGET_KEY_DIR}/{TARGET_KEY_FILE}" if spec.stream_key_secret_ref is not None else None,
        private_dir=PRIVATE_DIR,
        credential_file=CREDENTIAL_FILE,
    )


def pusher_pod(
    restream: Restream,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None = None,
    host_ports: dict[str, int] | None = None,
) -> Manifest:
    """One pusher per Restream, owned by it; the target key is a mounted Secret file, read at every
    connect (a rotated key is used on the next reconnect, never written into the Pod spec)."""
    name, uid = restream.metadata.name, restream.metadata.uid
    assert uid, "an object read from the API server has a uid"
    http_port = host_ports["http"] if host_ports else HTTP_PORT
    # The FIFO that hands FFmpeg the target's URL and key (off its command line): in memory, the
    # root filesystem being read-only.
    volumes: list[Manifest] = [{"name": "private", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    mounts: list[Manifest] = [{"name": "private", "mountPath": PRIVATE_DIR}]
    ref = restream.spec.stream_key_secret_ref
    if ref is not None:
        volumes.append(secret_file_volume("target-key", ref.name, ref.key, TARGET_KEY_FILE))
        mounts.append({"name": "target-key", "mountPath": TARGET_KEY_DIR, "readOnly": True})
    metadata = {
        "name": pusher_pod_name(name),
        "namespace": restream.metadata.namespace,
        "labels": {**child_labels(restream.spec.stream_ref.name, PUSHER_COMPONENT), RESTREAM_LABEL: label_value(name)},
        "annotations": {STREAM_NAME_ANNOTATION: restream.spec.stream_ref.name},
        "ownerReferences": [owner_reference("Restream", name, uid)],
    }
    worker = WorkerContainer(
        name="push",
        config_env=CONFIG_ENV,
        config=pusher_config(restream, stream, settings, ingest_ports, http_port),
        ports={"http": (http_port, "TCP")},
        resources=settings.worker_resources.pusher.wire(),  # measured: worker_resources.py
        volumes=volumes,
        mounts=mounts,
        credential_secret=credential_secret_name(restream.spec.stream_ref.name),
    )
    return worker_pod(metadata, worker, settings, host_ports)


def stream_owner_reference(stream: LiveStream) -> Manifest:
    """Restreams belong to their stream (deleting the stream deletes them) without being controlled
    by it: controller stays with whoever applied the Restream."""
    assert stream.metadata.uid
    return {
        "apiVersion": API_VERSION,
        "kind": "LiveStream",
        "name": stream.metadata.name,
        "uid": stream.metadata.uid,
    }


def restream_owner_patch(restream_meta: Manifest, stream: LiveStream) -> Manifest | None:
    """A merge patch adding the stream to the Restream's ownerReferences (None when present)."""
    refs = list(restream_meta.get("ownerReferences") or [])
    if any(r.get("uid") == stream.metadata.uid for r in refs):
        return None
    # References to an earlier stream of the same name are stale: replace them.
    refs = [r for r in refs if not (r.get("kind") == "LiveStream" and r.get("name") == stream.metadata.name)]
    return {"metadata": {"ownerReferences": [*refs, stream_owner_reference(stream)]}}
