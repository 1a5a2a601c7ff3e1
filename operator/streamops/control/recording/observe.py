"""What a Recording's reconcile reads before it decides anything (docs/design/reconcile-plan.md):
its recorder Pod, its stream, the Secrets and the claim of the storage its videos go to, the
stream's ingest ports. Reads only; plan.py decides from what this returns. The stream's standby
recorder is read where it is adopted (apply.py): the adoption is a write whose answer decides."""

from __future__ import annotations

from streamops.api import Recording
from streamops.api.recording import RecordingStorage
from streamops.control.recording.observation import Observed
from streamops.control.recording.specs.names import recorder_pod_name
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.recordings_claim import on_default_claim
from streamops.control.storage.storage_reads import read_followed_stream
from streamops.kube.reads import KubeReads


def claim_access_modes(
    api: KubeReads, namespace: str, storage: RecordingStorage, recordings: RecordingsSettings
) -> tuple[str, ...] | None:
    """A claim's access modes, as the claim says (none when it does not exist yet: treated as one
    node's); None for the default claim, whose mode is the operator's setting, and object storage."""
    if storage.pvc is None or on_default_claim(storage, recordings):
        return None
    claim = api.get("PersistentVolumeClaim", namespace, storage.pvc.claim_name)
    return tuple(((claim or {}).get("spec") or {}).get("accessModes") or ())


def observe(
    api: KubeReads, recording: Recording, settings: OperatorSettings, recorder: str | None, host_network: bool
) -> Observed:
    """`recorder`: the name of the Pod the pod index says is the Recording's (an adopted standby
    has its own); `host_network`: an allocator is given (the stream's ingest ports are read)."""
    namespace = recording.metadata.namespace or ""
    current = api.get("Pod", namespace, recorder or recorder_pod_name(recording.metadata.name))
    if recording.spec.stopped:
        return Observed(current)
    stream_name, own = recording.spec.stream_ref.name, recording.spec.storage
    followed = read_followed_stream(api, namespace, stream_name, own, settings, host_network)
    if followed is None:
        return Observed(current)
    return Observed(
        recorder=current,
        stream=followed.stream,
        storage=followed.storage,
        storage_refused=followed.storage_refused,
        host_network=host_network,
        ingest_ports=followed.ingest_ports,
        claim_access_modes=claim_access_modes(api, namespace, followed.storage, settings.recordings),
    )
