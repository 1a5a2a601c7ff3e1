"""Where a namespace's videos go by default: the recordings PVC the operator creates (owned by
nothing, so videos outlive streams and Recordings) and which recorders may share a node with it.
Used by the stream (its warm recorder) and the Recording (its recorder)."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import GROUP, LiveStream
from streamops.api.recording import PersistentVolumeClaimStorage, RecordingStorage
from streamops.control.shared.settings import RecordingsSettings
from streamops.kube.manifests import Manifest
from streamops.kube.naming import HOSTNAME_TOPOLOGY, MANAGED_BY, MANAGED_BY_LABEL, NAME_LABEL, label_value

CLAIM_LABEL = f"{GROUP}/recordings-claim"  # on every recorder Pod: the claim it writes to
SHARED_ACCESS_MODES = frozenset({"ReadWriteMany"})  # mountable on many nodes at once


def default_storage(stream: LiveStream, recordings: RecordingsSettings) -> RecordingStorage:
    """Where a Recording of the stream that names no storage writes: the stream's recording
    default, else the chart's object storage, else the namespace's default claim."""
    own = stream.spec.recording.storage
    if own is not None and (own.pvc is not None or own.s3 is not None):
        return own
    if recordings.s3 is not None:
        return RecordingStorage(s3=recordings.s3)
    return RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name=recordings.claim))


def on_default_claim(storage: RecordingStorage, recordings: RecordingsSettings) -> bool:
    """The namespace's default claim: the one the operator creates, and the standby recorders' one."""
    return storage.pvc is not None and storage.pvc.claim_name == recordings.claim


def recordings_claim_name(storage: RecordingStorage, recordings: RecordingsSettings) -> str:
    return storage.pvc.claim_name if storage.pvc else recordings.claim


def claim_affinity(claim: str, access_modes: Sequence[str]) -> Manifest | None:
    """Recorders of a claim that only one node can mount (ReadWriteOnce, ReadWriteOncePod, or modes
    unknown) must run where it is mounted: each requires the node of the other recorder Pods of
    that claim (the scheduler lets the first one go anywhere, since it matches its own term).
    A ReadWriteMany claim: anywhere (docs/design/recordings-placement.md)."""
    if SHARED_ACCESS_MODES & set(access_modes):
        return None
    term = {"labelSelector": {"matchLabels": {CLAIM_LABEL: label_value(claim)}}, "topologyKey": HOSTNAME_TOPOLOGY}
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def recordings_claim(namespace: str, recordings: RecordingsSettings) -> Manifest:
    """The default recordings PVC: owned by nothing, so videos outlive every stream and Recording."""
    spec: Manifest = {
        "accessModes": [recordings.access_mode],
        "resources": {"requests": {"storage": recordings.claim_size}},
    }
    if recordings.storage_class:
        spec["storageClassName"] = recordings.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": recordings.claim,
            "namespace": namespace,
            "labels": {
                NAME_LABEL: "streamops",
                MANAGED_BY_LABEL: MANAGED_BY,
                "app.kubernetes.io/component": "recordings",
            },
        },
        "spec": spec,
    }


def videos_claim(recordings: RecordingsSettings) -> str | None:
    """The recordings claim the edge serves under /videos/ (docs/design/claim-videos.md): the
    namespace's default claim, when the operator's recordingsVideosUrl is set and the claim can be
    mounted on every node the replicas run on (ReadWriteMany). A ReadWriteOnce claim would hold the
    replicas on other nodes in ContainerCreating, and live playback with them: none then."""
    if recordings.videos_url and recordings.access_mode == "ReadWriteMany":
        return recordings.claim
    return None
