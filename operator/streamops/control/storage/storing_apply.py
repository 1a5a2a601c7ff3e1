"""What the applies of the kinds whose worker stores videos (Recording, Clip) do alike, before their
worker Pod (docs/design/reconcile-plan.md): the worker removed, or the default claim made; and the
host port of the worker's HTTP face (its own, as kept, or allocated)."""

from __future__ import annotations

from streamops.api.recording import RecordingStorage
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.claim_creation import ensure_recordings_claim
from streamops.control.workers.children import remove_pod
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest


def clear_the_way(
    api: KubeApi,
    settings: OperatorSettings,
    namespace: str,
    uid: str | None,
    worker: Manifest | None,
    remove: bool,
    claim: RecordingStorage | None,
    allocator: PortAllocator | None,
) -> None:
    """`remove`: the worker Pod goes (its host ports given back); `claim`: the storage whose default
    claim is made when missing (None: none wanted)."""
    if remove:
        remove_pod(api, worker, uid, allocator)
    if claim is not None:
        ensure_recordings_claim(api, namespace, claim, settings.recordings)


def worker_host_ports(worker: Manifest | None, allocator: PortAllocator | None) -> dict[str, int] | None:
    """The worker's host port (workers on the host network: an allocator is given): its own, or a
    new one; None without host networking."""
    if allocator is None:
        return None
    return ports_of(worker) or allocator.allocate(["http"])
