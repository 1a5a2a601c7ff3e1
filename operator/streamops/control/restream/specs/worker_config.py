"""The pusher's configuration."""

from __future__ import annotations

from typing import get_args

from streamops.api import LiveStream, Restream
from streamops.api.restream import VideoCodec
from streamops.contract.egress_policy import configured_policy
from streamops.contract.pusher import (
    PRIVATE_DIR,
    TARGET_CA_DIR,
    TARGET_CA_FILE,
    TARGET_KEY_DIR,
    TARGET_KEY_FILE,
    PusherConfig,
)
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
        # In one order (a set: listing the same codecs in another order changes nothing the pusher does,
        # so it restarts no pusher).
        video_codecs=[c for c in get_args(VideoCodec) if c in spec.target_video_codecs],
        http_host=settings.worker_bind_address,
        http_port=http_port,
        stream_key_file=f"{TARGET_KEY_DIR}/{TARGET_KEY_FILE}" if spec.stream_key_secret_ref is not None else None,
        # At their defaults (verify against the system's trust) these are left out of the Pod's
        # configuration parts: an operator upgrade restarts no pusher (worker-restarts.md).
        tls_ca_file=f"{TARGET_CA_DIR}/{TARGET_CA_FILE}" if spec.tls and spec.tls.ca_secret_ref else None,
        tls_insecure_skip_verify=bool(spec.tls and spec.tls.insecure_skip_verify),
        # The admin's egress policy (docs/design/egress.md): None at the default, so the configuration
        # (and Pod hash) of a pusher stays what it was when the admin set nothing.
        egress=configured_policy(settings.egress_allow_cidrs, settings.egress_cluster_cidrs, settings.cluster_domain),
        private_dir=PRIVATE_DIR,
        credential_file=CREDENTIAL_FILE,
    )
