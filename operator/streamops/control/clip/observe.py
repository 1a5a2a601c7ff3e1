"""What a Clip's reconcile reads before it decides anything (docs/design/reconcile-plan.md): its
clipper Pod, its stream, the Secrets of the bucket it may upload to, the stream's ingest ports.
Reads only; plan.py decides from what this returns."""

from __future__ import annotations

from streamops.api import Clip
from streamops.control.clip.observation import Observed
from streamops.control.clip.specs.names import clipper_pod_name
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storage_reads import read_followed_stream
from streamops.kube.reads import KubeReads


def observe(api: KubeReads, clip: Clip, settings: OperatorSettings, final: bool, host_network: bool) -> Observed:
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
