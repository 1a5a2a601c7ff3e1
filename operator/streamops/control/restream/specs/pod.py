"""The stream's pusher Pod, shared by its Restreams (docs/design/shared-pusher.md)."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import LiveStream, Restream
from streamops.contract.pusher import CONFIG_ENV, PRIVATE_DIR
from streamops.contract.worker import HTTP_PORT
from streamops.contract.worker_credential import credential_secret_name
from streamops.control.restream.specs.names import PUSHER_COMPONENT, shared_pusher_pod_name
from streamops.control.restream.specs.worker_config import shared_pusher_config
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.worker_pod import WorkerContainer, worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import STREAM_NAME_ANNOTATION, child_labels, owner_reference


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
        resources=settings.worker.resources.pusher.wire(),
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
