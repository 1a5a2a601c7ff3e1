"""What a Clip's reconcile reads before it decides anything (docs/design/reconcile-plan.md): its
clipper Pod, its stream, the Secrets of the bucket it may upload to, the stream's ingest ports, as
every kind that stores videos reads them (storage/storing_observe.py). Reads only; plan.py decides
from what this returns."""

from __future__ import annotations

from streamops.api import Clip
from streamops.control.clip.observation import Observed
from streamops.control.clip.specs.names import clipper_pod_name
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.storing_observe import observe_storing
from streamops.kube.reads import KubeReads


def observe(api: KubeReads, clip: Clip, settings: OperatorSettings, final: bool, host_network: bool) -> Observed:
    """`final`: the Clip's final status is written (nothing but its clipper matters);
    `host_network`: an allocator is given (the stream's ingest ports are read)."""
    namespace, name = clip.metadata.namespace or "", clip.metadata.name
    stream, own = clip.spec.stream_ref.name, clip.spec.storage
    return observe_storing(api, namespace, clipper_pod_name(name), stream, own, settings, host_network, final)
