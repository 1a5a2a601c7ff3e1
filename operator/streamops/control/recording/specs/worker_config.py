"""The recorder's configuration (what a new recorder Pod carries, and what an adopted standby is
sent by POST /start)."""

from __future__ import annotations

from streamops.api import LiveStream, Recording
from streamops.api.livestream import Rendition
from streamops.api.recording import KeepOrigin
from streamops.contract.recorder import RECORDINGS_ROOT, RecorderConfig
from streamops.contract.worker_credential import CREDENTIAL_FILE
from streamops.control.recording.specs.settings import recording_settings
from streamops.control.recording.specs.storage import recording_directory, resolved_storage, upload_target
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import IngestPortMap, feed_url

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


def origin_fields(
    stream: LiveStream, keep_origin: KeepOrigin | None, settings: OperatorSettings, ingest_ports: IngestPortMap | None
) -> tuple[str | None, float | None]:
    """keepOrigin: the origin feed recorded beside the transcoded one, and how long each original is
    kept (deleteAfterDays of `retention_day_seconds`, a day but in tests); (None, None) otherwise (the
    configuration, and so the Pod, of a recorder without it is unchanged)."""
    if keep_origin is None:
        return None, None
    url = feed_url(stream, "origin", settings.worker.address, ingest_ports)
    return url, keep_origin.delete_after_days * settings.recordings.retention_day_seconds


def recorder_config(
    recording: Recording,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None,
    http_port: int,
) -> RecorderConfig:
    effective = recording_settings(recording, stream)
    storage = resolved_storage(recording, stream, settings)
    origin_feed_url, origin_keep_seconds = origin_fields(stream, effective.keep_origin, settings, ingest_ports)
    return RecorderConfig(
        stream=recording.spec.stream_ref.name,
        recording=recording.metadata.name,
        feed_url=feed_url(stream, effective.type, settings.worker.address, ingest_ports),
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
        origin_feed_url=origin_feed_url,
        origin_keep_seconds=origin_keep_seconds,
        segment_seconds=stream.spec.hls.segment_seconds,
        http_host=settings.worker.bind_address,
        http_port=http_port,
        credential_file=CREDENTIAL_FILE,
    )
