"""The pusher's configuration: the stream's shared pusher (`SharedPusherConfig`, what every target
shares) and each Restream's target (`PusherTarget`, sent over PUT /targets), made from what a single
pusher's configuration says of its target (`pusher_config`)."""

from __future__ import annotations

import hashlib
import json
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
    PusherTarget,
    SharedPusherConfig,
)
from streamops.contract.worker_credential import CREDENTIAL_FILE
from streamops.control.shared.settings import OperatorSettings
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
        feed_url=feed_url(stream, source, settings.worker.address, ingest_ports),
        uri=spec.uri,
        no_audio_mode=spec.no_audio_mode,
        # In one order (a set: listing the same codecs in another order changes nothing the pusher does,
        # so it restarts no pusher).
        video_codecs=[c for c in get_args(VideoCodec) if c in spec.target_video_codecs],
        http_host=settings.worker.bind_address,
        http_port=http_port,
        stream_key_file=f"{TARGET_KEY_DIR}/{TARGET_KEY_FILE}" if spec.stream_key_secret_ref is not None else None,
        # At their defaults (verify against the system's trust) these are left out of the Pod's
        # configuration parts: an operator upgrade restarts no pusher (worker-restarts.md).
        tls_ca_file=f"{TARGET_CA_DIR}/{TARGET_CA_FILE}" if spec.tls and spec.tls.ca_secret_ref else None,
        tls_insecure_skip_verify=bool(spec.tls and spec.tls.insecure_skip_verify),
        # The admin's egress policy (docs/design/egress.md): None at the default, so the configuration
        # (and Pod hash) of a pusher stays what it was when the admin set nothing.
        egress=configured_policy(settings.egress.allow_cidrs, settings.egress.cluster_cidrs, settings.cluster_domain),
        private_dir=PRIVATE_DIR,
        credential_file=CREDENTIAL_FILE,
    )


def shared_pusher_config(stream_name: str, settings: OperatorSettings, http_port: int) -> SharedPusherConfig:
    """Nothing of any Restream: adding, changing or removing one changes no part of the Pod."""
    return SharedPusherConfig(
        stream=stream_name,
        egress=configured_policy(settings.egress.allow_cidrs, settings.egress.cluster_cidrs, settings.cluster_domain),
        private_dir=PRIVATE_DIR,
        http_host=settings.worker.bind_address,
        http_port=http_port,
        credential_file=CREDENTIAL_FILE,
    )


def pusher_target(
    restream: Restream,
    stream: LiveStream,
    settings: OperatorSettings,
    ingest_ports: IngestPortMap | None,
    key: str | None,
    ca: str | None,
    secret_versions: tuple[str, ...] = (),
) -> PusherTarget:
    """The Restream's target as the pusher gets it: what its own pusher's configuration said, with
    the key's and the CA's values instead of their files. `secret_versions`: the resourceVersions of
    the Secrets they came from, so the version changes when either is rotated (never their values:
    the version is echoed in the pusher's /status)."""
    single = pusher_config(restream, stream, settings, ingest_ports, 0)
    uid = restream.metadata.uid
    assert uid, "an object read from the API server has a uid"
    target = PusherTarget(
        id=uid,
        name=restream.metadata.name,
        feed_url=single.feed_url,
        uri=single.uri,
        stream_key=key,  # type: ignore[arg-type]  # pydantic makes the SecretStr
        no_audio_mode=single.no_audio_mode,
        tls_ca=ca,
        tls_insecure_skip_verify=single.tls_insecure_skip_verify,
        video_codecs=single.video_codecs,
    )
    what = json.dumps([target.push_config(), list(secret_versions)], sort_keys=True)
    digest = hashlib.sha256(what.encode()).hexdigest()[:16]
    return target.model_copy(update={"version": f"{restream.metadata.generation or 0}-{digest}"})
