"""What a kind that writes videos reads from the API about where they go: its storage's Secrets and
whether they may be used, the stream it follows (video_storage.py: what is made of them, pure)."""

from __future__ import annotations

from streamops.api.recording import RecordingStorage, S3Storage
from streamops.control.shared.quality_set_reads import read_quality_set
from streamops.control.shared.quality_sets import resolved
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.spec_reads import read_stream
from streamops.control.storage.video_storage import (
    FollowedStream,
    StorageRefusal,
    StorageSecrets,
    resolve_storage,
    storage_refusal,
)
from streamops.control.workers.allocated_ports import allocated_ingest_ports
from streamops.kube.reads import KubeReads


def read_storage_secrets(api: KubeReads, namespace: str, s3: S3Storage) -> StorageSecrets:
    credentials = api.get("Secret", namespace, s3.credentials_secret)
    return StorageSecrets(credentials, api.get("Secret", namespace, s3.ca_secret) if s3.ca_secret else None)


def storage_secrets_refusal(
    api: KubeReads, namespace: str, s3: S3Storage, settings: OperatorSettings
) -> StorageRefusal | None:
    """storage_refusal of the storage's Secrets as they are now."""
    return storage_refusal(s3, read_storage_secrets(api, namespace, s3), settings)


def read_followed_stream(
    api: KubeReads,
    namespace: str,
    stream_name: str,
    own_storage: RecordingStorage | None,
    settings: OperatorSettings,
    host_network: bool,
) -> FollowedStream | None:
    """The stream and its storage as a Recording's or a Clip's reconcile reads them (None: no such
    stream; the storage is resolved from it)."""
    stream = read_stream(api, namespace, stream_name)
    if stream is None:
        return None
    stream = resolved(stream, read_quality_set(api, stream))
    storage = resolve_storage(own_storage, stream, settings.recordings)
    refused = storage_secrets_refusal(api, namespace, storage.s3, settings) if storage.s3 is not None else None
    ports = allocated_ingest_ports(api, stream) if host_network else None
    return FollowedStream(stream, storage, refused, ports)
