"""The recorder Pod of a Recording (on a claim, or uploading to a bucket)."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import LiveStream, Recording
from streamops.contract.recorder import CONFIG_ENV
from streamops.contract.worker import HTTP_PORT
from streamops.contract.worker_credential import credential_secret_name
from streamops.control.recording.specs.names import recorder_pod_name
from streamops.control.recording.specs.storage import resolved_storage
from streamops.control.recording.specs.worker_config import UPLOADER_GRACE_SECONDS, recorder_config
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT, video_worker_metadata, video_worker_pod
from streamops.control.workers.ingest_address import IngestPortMap
from streamops.kube.manifests import Manifest
from streamops.kube.naming import RECORDING_LABEL


def recorder_pod(
    recording: Recording,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None = None,
    host_ports: dict[str, int] | None = None,
    claim_access_modes: Sequence[str] | None = None,
) -> Manifest:
    """The recorder Pod, owned by the Recording (not by the stream: deleting the stream must not
    cut a recording short before it is finalised). `claim_access_modes` are those of the claim it
    writes to (default: the default claim's, from the settings). With object storage it keeps its
    parts on an emptyDir and runs anywhere: nothing ties it to a node."""
    name, namespace, uid = recording.metadata.name, recording.metadata.namespace, recording.metadata.uid
    assert uid, "an object read from the API server has a uid"
    http_port = host_ports["http"] if host_ports else HTTP_PORT
    storage = resolved_storage(recording, stream, settings)
    stream_name, pod_name = recording.spec.stream_ref.name, recorder_pod_name(name)
    metadata, claim = video_worker_metadata(
        "Recording",
        name,
        namespace,
        uid,
        stream_name,
        RECORDER_COMPONENT,
        RECORDING_LABEL,
        pod_name,
        storage,
        settings.recordings,
    )
    config = recorder_config(recording, stream, settings, ingest_ports, http_port)
    return video_worker_pod(
        metadata, "record", config, CONFIG_ENV, http_port, storage, claim, settings, host_ports, claim_access_modes,
        upload_grace_seconds=UPLOADER_GRACE_SECONDS, credential_secret=credential_secret_name(stream_name),
    )  # fmt: skip
