"""The recorder worker's Pod as both kinds make it: its container on a recordings volume, and the
warm recorder (LiveStream `recording.standby`) a stream keeps until a Recording adopts it."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import LiveStream
from streamops.contract.recorder import CONFIG_ENV, RECORDINGS_ROOT, StandbyConfig
from streamops.contract.worker import HTTP_PORT, WorkerConfig
from streamops.control.shared.manifests import Manifest
from streamops.control.shared.naming import (
    STREAM_NAME_ANNOTATION,
    child_labels,
    child_name,
    label_value,
    owner_reference,
)
from streamops.control.shared.recordings_claim import CLAIM_LABEL, claim_affinity
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.worker_pod import WorkerContainer, worker_pod

RECORDER_COMPONENT = "recorder"  # a Recording's recorder Pod (also an adopted standby)
STANDBY_COMPONENT = "recorder-standby"


def recorder_container(
    config: WorkerConfig,
    http_port: int,
    recordings: Manifest,
    settings: OperatorSettings,
    volumes: Sequence[Manifest] = (),
    mounts: Sequence[Manifest] = (),
) -> WorkerContainer:
    """`recordings`: the volume source mounted at RECORDINGS_ROOT (a claim, or scratch space)."""
    return WorkerContainer(
        name="record",
        config_env=CONFIG_ENV,
        config=config,
        ports={"http": (http_port, "TCP")},
        resources=settings.worker_resources.recorder.wire(),  # measured: worker_resources.py
        volumes=[{"name": "recordings", **recordings}, *volumes],
        mounts=[{"name": "recordings", "mountPath": RECORDINGS_ROOT}, *mounts],
    )


def claim_recorder_container(
    config: WorkerConfig, http_port: int, claim: str, settings: OperatorSettings
) -> WorkerContainer:
    return recorder_container(config, http_port, {"persistentVolumeClaim": {"claimName": claim}}, settings)


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
            CLAIM_LABEL: label_value(settings.recordings_claim),
        },
        "annotations": {STREAM_NAME_ANNOTATION: stream.metadata.name},
        "ownerReferences": [owner_reference("LiveStream", stream.metadata.name, stream.metadata.uid)],
    }
    config = StandbyConfig(
        standby=True, recordings_root=RECORDINGS_ROOT, http_host=settings.worker_bind_address, http_port=http_port
    )
    worker = claim_recorder_container(config, http_port, settings.recordings_claim, settings)
    affinity = claim_affinity(settings.recordings_claim, (settings.recordings_access_mode,))
    return worker_pod(metadata, worker, settings, host_ports, affinity)
