"""Where a Recording's videos go: its storage resolved, the recorder's half of a bucket, its
directory on the claim."""

from __future__ import annotations

from streamops.api import LiveStream, Recording
from streamops.api.common import ClientFields
from streamops.api.recording import RecordingStorage, S3Storage
from streamops.contract.recorder import UploadTarget
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.video_storage import resolve_storage
from streamops.control.storage.video_storage import upload_target as shared_upload_target


def resolved_storage(recording: Recording, stream: LiveStream, settings: OperatorSettings) -> RecordingStorage:
    """The Recording's storage (exactly one of pvc or s3): its own, else its stream's default."""
    return resolve_storage(recording.spec.storage, stream, settings.recordings)


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
