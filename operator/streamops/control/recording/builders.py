"""Pure builders of a Recording's children: its recorder Pod (on a claim, or uploading to a bucket),
the settings it inherits from its stream, and the patch that adopts a stream's warm recorder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamops.api import LiveStream, Recording
from streamops.api.common import ClientFields
from streamops.api.livestream import Rendition
from streamops.api.recording import RecordingStorage, S3Storage
from streamops.contract.recorder import CONFIG_ENV, RECORDINGS_ROOT, RecorderConfig, UploadTarget
from streamops.contract.worker import HTTP_PORT
from streamops.contract.worker_credential import CREDENTIAL_FILE, credential_secret_name
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.storage.video_storage import resolve_storage
from streamops.control.storage.video_storage import upload_target as shared_upload_target
from streamops.control.workers.ingest_address import IngestPortMap, feed_url
from streamops.control.workers.recorder_pod import RECORDER_COMPONENT, video_worker_metadata, video_worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    ADOPTED_ANNOTATION,
    COMPONENT_LABEL,
    RECORDING_LABEL,
    child_name,
    label_value,
    owner_reference,
)


@dataclass(frozen=True)
class RecordingSettings:
    """A Recording's effective settings: its own, else its stream's `recording` defaults."""

    type: str
    reconnect_window_seconds: int
    max_segment_seconds: int
    min_duration_seconds: int


def recording_settings(recording: Recording, stream: LiveStream) -> RecordingSettings:
    spec, defaults = recording.spec, stream.spec.recording
    return RecordingSettings(
        type=spec.type or defaults.type,
        reconnect_window_seconds=(
            spec.reconnect_window_seconds
            if spec.reconnect_window_seconds is not None
            else defaults.reconnect_window_seconds
        ),
        max_segment_seconds=spec.max_segment_seconds or defaults.max_segment_seconds,
        min_duration_seconds=(
            spec.min_duration_seconds if spec.min_duration_seconds is not None else defaults.min_duration_seconds
        ),
    )


def recorder_pod_name(recording_name: str) -> str:
    return child_name(recording_name, "recorder")


def resolved_storage(recording: Recording, stream: LiveStream, settings: OperatorSettings) -> RecordingStorage:
    """The Recording's storage (exactly one of pvc or s3): its own, else its stream's default."""
    return resolve_storage(recording.spec.storage, stream, settings)


def upload_target(s3: S3Storage, recording: Recording, client: ClientFields | None = None) -> UploadTarget:
    """The recorder's half of an S3Storage: names filled into the key template, no credentials
    (they reach the recorder by env from the Secret); `client`: the stream's client fields."""
    meta = recording.metadata
    assert meta.uid, "an object read from the API server has a uid"
    stream = recording.spec.stream_ref.name
    return shared_upload_target(s3, meta.namespace or "", stream, meta.name, meta.uid, client)


def recording_directory(recording: Recording, storage: RecordingStorage | None = None) -> str:
    """Directory of this Recording's videos inside the claim (or the scratch space; relative to its
    root, as the worker and `status.videos[].path` use it): unique per object (a Recording deleted
    and created again under the same name starts afresh, the old videos stay)."""
    assert recording.metadata.uid
    own = f"{recording.metadata.name}-{recording.metadata.uid[:8]}"
    pvc = (storage or recording.spec.storage or RecordingStorage()).pvc
    sub = pvc.sub_path if pvc is not None and pvc.sub_path else recording.metadata.namespace
    return f"{sub}/{own}"


# An uploading recorder's Pod may take this long to exit: its scratch emptyDir (the videos not
# uploaded yet) goes with it, so on SIGTERM it finishes its uploads first (a 20 MiB video takes
# ≈0.3 s against a local server, a 4-hour 6 Mbit/s one ≈11 GB, minutes on a slow link).
UPLOADER_GRACE_SECONDS = 300
EXIT_MARGIN_SECONDS = 5  # the recorder exits this long before the kubelet's SIGKILL


def recorded_renditions(stream: LiveStream, type_: str) -> list[Rendition]:
    """A transcoded recording keeps every rendition of the ladder (tallest first: the feed's)."""
    if type_ != "transcoded" or stream.spec.transcoding is None:
        return []
    return stream.spec.transcoding.tallest_first()


def recorder_config(
    recording: Recording,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None,
    http_port: int,
) -> RecorderConfig:
    effective = recording_settings(recording, stream)
    storage = resolved_storage(recording, stream, settings)
    return RecorderConfig(
        stream=recording.spec.stream_ref.name,
        recording=recording.metadata.name,
        feed_url=feed_url(stream, effective.type, settings.worker_address, ingest_ports),
        recordings_root=RECORDINGS_ROOT,
        directory=recording_directory(recording, storage),
        upload=upload_target(storage.s3, recording, stream.spec.client()) if storage.s3 is not None else None,
        **({"exit_upload_seconds": UPLOADER_GRACE_SECONDS - EXIT_MARGIN_SECONDS} if storage.s3 is not None else {}),
        title=stream.spec.title or stream.metadata.name,
        client=stream.spec.client(),
        reconnect_window_seconds=effective.reconnect_window_seconds,
        max_segment_seconds=effective.max_segment_seconds,
        min_duration_seconds=effective.min_duration_seconds,
        renditions=recorded_renditions(stream, effective.type),
        segment_seconds=stream.spec.hls.segment_seconds,
        http_host=settings.worker_bind_address,
        http_port=http_port,
        credential_file=CREDENTIAL_FILE,
    )


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
        "Recording", name, namespace, uid, stream_name, RECORDER_COMPONENT, RECORDING_LABEL, pod_name, storage, settings
    )
    config = recorder_config(recording, stream, settings, ingest_ports, http_port)
    return video_worker_pod(
        metadata, "record", config, CONFIG_ENV, http_port, storage, claim, settings, host_ports, claim_access_modes,
        upload_grace_seconds=UPLOADER_GRACE_SECONDS, credential_secret=credential_secret_name(stream_name),
    )  # fmt: skip


def adoption_patch(recording: Recording) -> Manifest:
    """Hands a standby recorder to a Recording: its controller and component change, so the
    stream's next reconcile starts another standby and the Recording's status loop finds this one.
    The annotation tells `ensure_pod()` not to roll it for its (standby) spec hash."""
    name, uid = recording.metadata.name, recording.metadata.uid
    assert uid
    return {
        "metadata": {
            "ownerReferences": [owner_reference("Recording", name, uid)],
            "labels": {COMPONENT_LABEL: RECORDER_COMPONENT, RECORDING_LABEL: label_value(name)},
            "annotations": {ADOPTED_ANNOTATION: name},
        }
    }
