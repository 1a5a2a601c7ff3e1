"""The pusher Pods: the stream's shared one, and (for the migration's tests) a Restream's own."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import LiveStream, Restream
from streamops.contract.pusher import (
    CONFIG_ENV,
    PRIVATE_DIR,
    TARGET_CA_DIR,
    TARGET_CA_FILE,
    TARGET_KEY_DIR,
    TARGET_KEY_FILE,
)
from streamops.contract.worker import HTTP_PORT
from streamops.contract.worker_credential import credential_secret_name
from streamops.control.restream.specs.names import PUSHER_COMPONENT, pusher_pod_name, shared_pusher_pod_name
from streamops.control.restream.specs.worker_config import pusher_config, shared_pusher_config
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.control.workers.worker_pod import WorkerContainer, secret_file_volume, worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import RESTREAM_LABEL, STREAM_NAME_ANNOTATION, child_labels, label_value, owner_reference


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
    ca = restream.spec.tls.ca_secret_ref if restream.spec.tls else None
    if ca is not None:
        # Optional: a missing CA Secret lets the Pod start and the pusher say so, sending nothing.
        volumes.append(secret_file_volume("target-ca", ca.name, ca.key, TARGET_CA_FILE, optional=True))
        mounts.append({"name": "target-ca", "mountPath": TARGET_CA_DIR, "readOnly": True})
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


def shared_pusher_pod(
    stream: LiveStream,
    owners: Sequence[Restream],
    settings: OperatorSettings,
    host_ports: dict[str, int] | None = None,
) -> Manifest:
    """The stream's one pusher Pod (docs/design/shared-pusher.md), owned by every Restream it pushes
    for (none of them its controller): the garbage collector removes it with the last. Its targets,
    keys and CAs come over PUT /targets, so no Restream is in its spec: adding, changing or removing
    one never replaces it."""
    name = stream.metadata.name
    http_port = host_ports["http"] if host_ports else HTTP_PORT
    volumes: list[Manifest] = [{"name": "private", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    mounts: list[Manifest] = [{"name": "private", "mountPath": PRIVATE_DIR}]
    metadata = {
        "name": shared_pusher_pod_name(name),
        "namespace": stream.metadata.namespace,
        "labels": child_labels(name, PUSHER_COMPONENT),
        "annotations": {STREAM_NAME_ANNOTATION: name},
        "ownerReferences": [shared_owner_reference(r) for r in owners],
    }
    worker = WorkerContainer(
        name="pushers",
        config_env=CONFIG_ENV,
        config=shared_pusher_config(name, settings, http_port),
        ports={"http": (http_port, "TCP")},
        resources=settings.worker_resources.pusher.wire(),
        volumes=volumes,
        mounts=mounts,
        credential_secret=credential_secret_name(name),
    )
    return worker_pod(metadata, worker, settings, host_ports)


def shared_owner_reference(restream: Restream) -> Manifest:
    """One of the shared pusher's owners: not its controller (it has several)."""
    uid = restream.metadata.uid
    assert uid, "an object read from the API server has a uid"
    return {**owner_reference("Restream", restream.metadata.name, uid), "controller": False}
