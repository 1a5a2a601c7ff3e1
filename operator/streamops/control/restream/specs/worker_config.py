"""The pusher's configuration."""

from __future__ import annotations

from streamops.api import LiveStream, Restream
from streamops.contract.pusher import PRIVATE_DIR, TARGET_KEY_DIR, TARGET_KEY_FILE, PusherConfig
from streamops.contract.worker_credential import CREDENTIAL_FILE
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.ingest_address import IngestPortMap, feed_url


def pusher_config(
    restream: Restream,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None,
    http_port: int,
) -> PusherConfig:
    spec = restream.spec
    source = "transcoded" if spec.source == "transcoded" else "origin"
    return PusherConfig(
        name=restream.metadata.name,
        stream=spec.stream_ref.name,
        feed_url=feed_url(stream, source, settings.worker_address, ingest_ports),
        uri=spec.uri,
        no_audio_mode=spec.no_audio_mode,
        http_host=settings.worker_bind_address,
        http_port=http_port,
        stream_key_file=f"{TARGET_KEY_DIR}/{TARGET_KEY_FILE}" if spec.stream_key_secret_ref is not None else None,
        private_dir=PRIVATE_DIR,
        credential_file=CREDENTIAL_FILE,
    )
