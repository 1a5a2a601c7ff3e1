"""What a Clip's reconcile reads before it decides anything (docs/design/reconcile-plan.md): its
clipper Pod, its stream, the Secrets of the bucket it may upload to, the stream's ingest ports.
Reads only; plan.py decides from what this returns."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import Clip, LiveStream
from streamops.api.recording import RecordingStorage
from streamops.control.clip.specs.names import clipper_pod_name
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.storage.video_storage import StorageRefusal, read_followed_stream
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest


@dataclass(frozen=True)
class Observed:
    """What exists of a Clip's child and what it names. A Clip whose final status is written reads
    only its clipper; one whose stream is missing nothing more (the storage is resolved from it)."""

    clipper: Manifest | None  # its clipper Pod
    stream: LiveStream | None = None
    storage: RecordingStorage | None = None  # where the clip goes, resolved from its spec and its stream's
    storage_refused: StorageRefusal | None = None  # a Secret of the bucket is missing or refused
    host_network: bool = False  # workers run on the host network: the ingest ports were read
    ingest_ports: IngestPortMap | None = None  # the stream's primary ingest's (None: not allocated yet)


def observe(api: KubeApi, clip: Clip, settings: OperatorSettings, final: bool, host_network: bool) -> Observed:
    """`final`: the Clip's final status is written (nothing but its clipper matters);
    `host_network`: an allocator is given (the stream's ingest ports are read)."""
    namespace = clip.metadata.namespace or ""
    current = api.get("Pod", namespace, clipper_pod_name(clip.metadata.name))
    if final:
        return Observed(current)
    stream_name, own = clip.spec.stream_ref.name, clip.spec.storage
    followed = read_followed_stream(api, namespace, stream_name, own, settings, host_network)
    if followed is None:
        return Observed(current)
    return Observed(
        clipper=current,
        stream=followed.stream,
        storage=followed.storage,
        storage_refused=followed.storage_refused,
        host_network=host_network,
        ingest_ports=followed.ingest_ports,
    )
