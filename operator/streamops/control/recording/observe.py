"""What a Recording's reconcile reads before it decides anything (docs/design/reconcile-plan.md):
its recorder Pod, its stream, the Secrets and the claim of the storage its videos go to, the
stream's ingest ports; when the status loop asks, the origin expiry Pod (keepOrigin on a claim) and
the access modes of the claim it would mount; the recorder's node (a cordoned one: the drain signal)
and its PodDisruptionBudget. Reads only; plan.py decides from what this returns.
The stream's standby recorder is read where it is adopted (apply.py): the adoption is a write whose
answer decides."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import Recording
from streamops.api.recording import RecordingStorage
from streamops.control.recording.observation import Observed, OriginExpiryObserved
from streamops.control.recording.specs.names import recorder_slots
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.recordings_claim import on_default_claim
from streamops.control.storage.storing_observation import fields_of
from streamops.control.storage.storing_observe import observe_storing
from streamops.control.workers.cluster_nodes import by_name
from streamops.control.workers.drain import drain_reason, pod_node, room_elsewhere
from streamops.control.workers.handover_marks import marks_of, serving_index
from streamops.kube.manifests import Manifest
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
    api: KubeReads,
    recording: Recording,
    settings: OperatorSettings,
    recorder: str | None,
    host_network: bool,
    origin_expiry: OriginExpiryAsk | None = None,
) -> Observed:
    """`recorder`: the name of the Pod the pod index says is the Recording's (an adopted standby
    has its own); `host_network`: an allocator is given (the stream's ingest ports are read);
    `origin_expiry`: what the status loop asks of the origin expiry Pod (nothing: not read)."""
    namespace = recording.metadata.namespace or ""
    slots = recorder_slots(recording.metadata.name)
    worker, other = recorder or slots[0], None
    if worker in slots:
        worker, other = _recorders(api, namespace, slots)
    stream, own, stopped = recording.spec.stream_ref.name, recording.spec.storage, recording.spec.stopped
    base = observe_storing(api, namespace, worker, stream, own, settings, host_network, stopped)
    storage = base.storage
    modes = claim_access_modes(api, namespace, storage, settings.recordings) if storage is not None else None
    expiring = _origin_expiry(api, recording, settings, origin_expiry, (storage, modes) if storage else None)
    nodes = api.nodes()
    drain = drain_reason(base.worker, by_name(nodes or []).get(pod_node(base.worker)))
    budget = api.get("PodDisruptionBudget", namespace, slots[0])
    return Observed(
        **fields_of(base),
        claim_access_modes=modes,
        origin_expiry=expiring,
        other=other,
        slots=slots,
        drain=drain,
        budget=budget,
        room=room_elsewhere(base.worker, nodes),
    )


def _recorders(api: KubeReads, namespace: str, slots: tuple[str, str]) -> tuple[str, Manifest | None]:
    """(the recorder's name, the Pod in its other slot): of two, the one that is no one's successor
    is the recorder until it is gone (handover_marks.serving_index)."""
    pods = [api.get("Pod", namespace, name) for name in slots]
    index = serving_index([marks_of(name, pod) for name, pod in zip(slots, pods, strict=True)])
    if index is None:
        return slots[0], None
    return slots[index], pods[1 - index]


@dataclass(frozen=True)
class OriginExpiryAsk:
    """What the status loop asks of the origin expiry Pod: the one the pod index shows ended (read
    it, so its originals are known and it goes), or a new one (originals on the claim are due)."""

    ended: str | None = None  # its name
    start: bool = False


def _origin_expiry(
    api: KubeReads,
    recording: Recording,
    settings: OperatorSettings,
    ask: OriginExpiryAsk | None,
    read: tuple[RecordingStorage, tuple[str, ...] | None] | None,
) -> OriginExpiryObserved | None:
    """`read`: the storage whose claim was read already, and its access modes (each read once)."""
    if ask is None or not (ask.ended or ask.start):
        return None
    namespace = recording.metadata.namespace or ""
    if ask.ended:
        return OriginExpiryObserved(pod=api.get("Pod", namespace, ask.ended))
    storage = recording.status.storage if recording.status is not None else None
    if storage is None or storage.s3 is not None:
        return OriginExpiryObserved()
    modes = (
        read[1]
        if read is not None and read[0] == storage
        else claim_access_modes(api, namespace, storage, settings.recordings)
    )
    return OriginExpiryObserved(claim_access_modes=modes)
