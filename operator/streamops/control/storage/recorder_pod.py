"""The recorder worker's Pod as both kinds make it: its container on a recordings volume, and the
warm recorder (LiveStream `recording.standby`) a stream keeps until a Recording adopts it; and the
Pod of any worker that stores videos as a recorder does (a Recording's, a Clip's clipper): its
metadata, and its volumes on the claim or on scratch space with the bucket's credentials."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import LiveStream
from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import CONFIG_ENV, RECORDINGS_ROOT, StandbyConfig
from streamops.contract.worker import HTTP_PORT, POD_GRACE_SECONDS, WorkerConfig
from streamops.contract.worker_credential import CREDENTIAL_FILE, credential_secret_name
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings, WorkerSettings
from streamops.control.storage.recordings_claim import CLAIM_LABEL, claim_affinity, recordings_claim_name
from streamops.control.storage.video_storage import ca_volume, with_credentials
from streamops.control.workers.worker_pod import WorkerContainer, worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    STREAM_NAME_ANNOTATION,
    child_labels,
    child_name,
    label_value,
    owner_reference,
)

RECORDER_COMPONENT = "recorder"  # a Recording's recorder Pod (also an adopted standby)
STANDBY_COMPONENT = "recorder-standby"


def recorder_container(
    config: WorkerConfig,
    http_port: int,
    recordings: Manifest,
    worker: WorkerSettings,
    volumes: Sequence[Manifest] = (),
    mounts: Sequence[Manifest] = (),
    name: str = "record",
    config_env: str = CONFIG_ENV,
    credential_secret: str | None = None,
) -> WorkerContainer:
    """`recordings`: the volume source mounted at RECORDINGS_ROOT (a claim, or scratch space);
    `name` and `config_env`: the container's (a clipper's are its own), with a recorder's resources;
    `credential_secret`: the stream's worker credential (a recorder's; a clipper has none)."""
    return WorkerContainer(
        name=name,
        config_env=config_env,
        config=config,
        ports={"http": (http_port, "TCP")},
        resources=worker.resources.recorder.wire(),  # measured: worker_resources.py
        volumes=[{"name": "recordings", **recordings}, *volumes],
        mounts=[{"name": "recordings", "mountPath": RECORDINGS_ROOT}, *mounts],
        credential_secret=credential_secret,
    )


def claim_recorder_container(
    config: WorkerConfig, http_port: int, claim: str, worker: WorkerSettings, credential_secret: str | None = None
) -> WorkerContainer:
    claim_volume = {"persistentVolumeClaim": {"claimName": claim}}
    return recorder_container(config, http_port, claim_volume, worker, credential_secret=credential_secret)


def standby_pod_name(stream_name: str, number: int) -> str:
    """Standbys are numbered: an adopted one keeps its name (Pods cannot be renamed) under its
    Recording, and the stream's next standby takes the next free number."""
    return child_name(stream_name, f"recorder-{number}")


def recorder_standby_pod(
    stream: LiveStream, name: str, settings: OperatorSettings, host_ports: dict[str, int] | None = None
) -> Manifest:
    """A recorder with no Recording yet, owned by the stream, on the default recordings claim:
    started with the stream so that a Recording only has to POST /start to it (≈0.5 s to first
    bytes instead of a Pod start)."""
    assert stream.metadata.uid, "an object read from the API server has a uid"
    http_port = host_ports["http"] if host_ports else HTTP_PORT
    metadata = {
        "name": name,
        "namespace": stream.metadata.namespace,
        "labels": {
            **child_labels(stream.metadata.name, STANDBY_COMPONENT),
            CLAIM_LABEL: label_value(settings.recordings.claim),
        },
        "annotations": {STREAM_NAME_ANNOTATION: stream.metadata.name},
        "ownerReferences": [owner_reference("LiveStream", stream.metadata.name, stream.metadata.uid)],
    }
    config = StandbyConfig(
        standby=True,
        recordings_root=RECORDINGS_ROOT,
        http_host=settings.worker.bind_address,
        http_port=http_port,
        credential_file=CREDENTIAL_FILE,
    )
    credential = credential_secret_name(stream.metadata.name)
    worker = claim_recorder_container(config, http_port, settings.recordings.claim, settings.worker, credential)
    affinity = claim_affinity(settings.recordings.claim, (settings.recordings.access_mode,))
    return worker_pod(metadata, worker, settings, host_ports, affinity)


def video_worker_metadata(
    owner_kind: str,
    owner: str,
    namespace: str | None,
    uid: str,
    stream: str,
    component: str,
    object_label: str,
    pod_name: str,
    storage: RecordingStorage,
    recordings: RecordingsSettings,
) -> tuple[Manifest, str | None]:
    """The metadata of a worker Pod that stores an object's videos, owned by the object (deleting
    the stream must not cut its work short), and the claim it writes to (None: a bucket)."""
    labels = {**child_labels(stream, component), object_label: label_value(owner)}
    claim = recordings_claim_name(storage, recordings) if storage.s3 is None else None
    if claim is not None:
        labels[CLAIM_LABEL] = label_value(claim)
    metadata = {
        "name": pod_name,
        "namespace": namespace,
        "labels": labels,
        "annotations": {STREAM_NAME_ANNOTATION: stream},
        "ownerReferences": [owner_reference(owner_kind, owner, uid)],
    }
    return metadata, claim


def video_worker_pod(
    metadata: Manifest,
    container: str,
    config: WorkerConfig,
    config_env: str,
    http_port: int,
    storage: RecordingStorage,
    claim: str | None,
    settings: OperatorSettings,
    host_ports: dict[str, int] | None = None,
    claim_access_modes: Sequence[str] | None = None,
    volumes: Sequence[Manifest] = (),
    mounts: Sequence[Manifest] = (),
    upload_grace_seconds: int = POD_GRACE_SECONDS,
    credential_secret: str | None = None,
) -> Manifest:
    """A worker storing videos: with a bucket, on scratch space (and the CA bundle when the storage
    names one), the keys by env from the Secret, on any node, given `upload_grace_seconds` to exit
    (its uploads finish first); on a claim, next to it where the claim's access modes (default: the
    default claim's, from the settings) tie it to a node. `credential_secret`: a recorder's."""
    if storage.s3 is not None:
        scratch = {"emptyDir": {"sizeLimit": settings.recordings.scratch_size}}
        ca_volumes, ca_mounts = ca_volume(storage.s3)
        worker = recorder_container(
            config,
            http_port,
            scratch,
            settings.worker,
            [*volumes, *ca_volumes],
            [*mounts, *ca_mounts],
            container,
            config_env,
            credential_secret,
        )
        pod = worker_pod(metadata, worker, settings, host_ports, grace_seconds=upload_grace_seconds)
        return with_credentials(pod, storage.s3)
    assert claim is not None, "a claim when not a bucket"
    claim_volume = {"persistentVolumeClaim": {"claimName": claim}}
    worker = recorder_container(
        config, http_port, claim_volume, settings.worker, volumes, mounts, container, config_env, credential_secret
    )
    modes = claim_access_modes if claim_access_modes is not None else (settings.recordings.access_mode,)
    return worker_pod(metadata, worker, settings, host_ports, claim_affinity(claim, modes))
