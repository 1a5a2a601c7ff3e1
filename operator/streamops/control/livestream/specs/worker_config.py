"""The ingest worker's configuration (contract.ingest.IngestConfig) from a LiveStream's spec."""

from __future__ import annotations

from typing import NamedTuple

from streamops.api import LiveStream
from streamops.contract.egress_policy import EgressPolicy
from streamops.contract.ingest import (
    ICE_SERVERS_FILE,
    PULL_CA_FILE,
    PULL_PASSWORD_FILE,
    PULL_USERNAME_FILE,
    RULES_FILE,
    STREAM_KEY_FILE,
    TLS_CERT_FILE,
    TLS_KEY_FILE,
    VIEWER_WINDOW_SECONDS,
    WHEP_MAX_VIEWERS,
    WHEP_MAX_VIEWERS_PER_ADDRESS,
    WHEP_MAX_VIEWERS_PER_TOKEN,
    IngestConfig,
    IngestOverlay,
    IngestPlayback,
    IngestReaders,
    IngestWebRtc,
    Role,
)
from streamops.contract.worker_credential import CREDENTIAL_FILE
from streamops.control.livestream.exposure import WebRtcAdvertise
from streamops.control.livestream.specs.features import reader_ports, rtmps_on, whip_on
from streamops.control.livestream.specs.mounts import IngestMounts, ingest_mounts
from streamops.control.livestream.specs.overlay_sidecar import composited_overlays
from streamops.control.workers.ingest_address import (
    POD_NETWORK_PORTS,
    READER_PORT_NAMES,
    WEBRTC_PORT_NAMES,
    IngestPortMap,
    ingest_ports,
)
from streamops.control.workers.mounts import directory_of, file_in


class WhepCaps(NamedTuple):
    """The operator's WHEP caps (OperatorSettings.playback.webrtc_max_viewers*)."""

    viewers: int = WHEP_MAX_VIEWERS
    per_address: int = WHEP_MAX_VIEWERS_PER_ADDRESS
    per_token: int = WHEP_MAX_VIEWERS_PER_TOKEN


DEFAULT_WHEP_CAPS = WhepCaps()


def ingest_webrtc(
    stream: LiveStream,
    whep: bool,
    advertise: WebRtcAdvertise | None,
    caps: WhepCaps = DEFAULT_WHEP_CAPS,
    ice_servers_file: str | None = None,
) -> IngestWebRtc:
    """The component's settings from the spec, where the exposure says peers reach it, and the
    operator's caps (None at a default: the configuration, and Pod hash, of other ingests stays);
    `ice_servers_file`: where the mounted STUN/TURN servers are (IngestMounts.ice_servers)."""
    own = stream.spec.ingest.webrtc
    advertise = advertise or WebRtcAdvertise()
    return IngestWebRtc(
        whep=whep,
        whep_max_viewers=None if caps.viewers == WHEP_MAX_VIEWERS else caps.viewers,
        whep_max_viewers_per_address=None if caps.per_address == WHEP_MAX_VIEWERS_PER_ADDRESS else caps.per_address,
        whep_max_viewers_per_token=None if caps.per_token == WHEP_MAX_VIEWERS_PER_TOKEN else caps.per_token,
        b_frames=stream.spec.playback.webrtc.b_frames,
        ice_tcp=own.ice_tcp,
        advertise_hosts=list(advertise.hosts),
        advertise_udp_port=advertise.udp_port if advertise.hosts else None,
        advertise_tcp_port=advertise.tcp_port if advertise.hosts and own.ice_tcp else None,
        ice_servers_file=ice_servers_file,
    )


def ingest_worker_config(
    stream: LiveStream,
    role: Role,
    ports: IngestPortMap | None = None,
    bind_address: str = "0.0.0.0",
    path_prefix: str = "",
    primary_url: str | None = None,
    advertise: WebRtcAdvertise | None = None,
    whep: bool = False,
    signed: bool = False,
    trusted_proxies: list[str] | None = None,
    publish_over_http: bool = False,
    viewer_window: float = VIEWER_WINDOW_SECONDS,
    whep_caps: WhepCaps = DEFAULT_WHEP_CAPS,
    egress: EgressPolicy | None = None,
    mounts: IngestMounts | None = None,
    geoip_file: str | None = None,
) -> IngestConfig:
    """What the ingest worker needs from the spec (see IngestConfig); `primary_url`: a backup's primary;
    `advertise`: the primary's WebRTC address as the exposure gives it; `whep`: WebRTC playback on
    (whep_on); `signed`: playback needs tokens (the keys mounted at PLAYBACK_KEYS_DIR);
    `trusted_proxies`: the operator's (OperatorSettings.playback.trusted_proxy_cidrs); `viewer_window`: the
    operator's viewer_window_seconds; `egress`: the admin's egress policy (configured_policy), kept
    for pull streams only (the pull URLs go through the egress guard); `whep_caps`: the operator's WHEP
    caps (OperatorSettings.playback.webrtc_max_viewers*); `mounts`: the Pod's (specs/mounts.py, by default made
    from the same arguments), where every file it names is; `geoip_file`: the database's file in
    mounts.geoip (OperatorSettings.playback.geoip)."""
    spec = stream.spec
    source = spec.source
    ports = dict(ports or POD_NETWORK_PORTS)
    if not rtmps_on(stream):
        ports.pop("rtmps", None)  # unset, so a stream without rtmps keeps the configuration it had
    webrtc = role == "primary" and (whip_on(stream, role) or whep)
    if not webrtc:  # likewise
        for name in WEBRTC_PORT_NAMES:
            ports.pop(name, None)
    elif not spec.ingest.webrtc.ice_tcp:
        ports.pop("webrtc-tcp", None)
    readers = reader_ports(stream, role)
    for name in READER_PORT_NAMES:  # likewise: only the readers' listeners the stream serves
        if name not in readers:
            ports.pop(name, None)
    mounts = mounts or ingest_mounts(stream, role, webrtc, signed)
    if source.push:
        # The worker reads the key from the mounted file; the Secret's name is the operator's business.
        # `backup` is the operator's too (it runs a second ingest): in the config it would make adding
        # a backup roll the live primary ingest (its spec hash) and cut off its publisher.
        # So is `failback` for the primary: the backup sends it along with its feed (backup_link.py).
        push = source.push.model_copy(update={"stream_key_secret_ref": None, "backup": False})
        if role == "primary":
            push = push.model_copy(update={"failback": None})
        else:  # no backup WHIP (whip_on)
            push = push.model_copy(update={"protocols": [p for p in push.protocols if p != "whip"]})
        source = source.model_copy(update={"push": push})
    if source.pull and (source.pull.credentials_secret_ref is not None or source.pull.tls is not None):
        # The worker reads the mounted files (pod.py); the Secrets' names and keys are the operator's.
        # tls stays only as insecureSkipVerify (what rtsps:// needs): None at the default (verify
        # against the system's trust store), so the configuration (and Pod hash) of an ingest deployed
        # before tls existed stays what it was, and an upgrade restarts no pull ingest.
        tls = source.pull.tls if source.pull.tls and source.pull.tls.insecure_skip_verify else None
        pull = source.pull.model_copy(update={"credentials_secret_ref": None, "tls": tls})
        source = source.model_copy(update={"pull": pull})
    overlays = composited_overlays(stream)
    return IngestConfig(
        stream=stream.metadata.name,
        role=role,
        source=source,
        trusted_proxies=trusted_proxies or None,  # None: unset, as before it existed
        publish_over_http=publish_over_http or None,
        dvr=spec.dvr,
        hls=spec.hls,
        screenshots=spec.screenshots,
        transcoding=spec.transcoding,
        dash=spec.dash or None,  # None, not False: the configuration (and the Pod's hash) of older ingests stays
        dash_latency_mode="low" if spec.dash and spec.dash_latency_mode == "low" else None,  # likewise
        ports=ingest_ports(ports),
        media_dir=mounts.media.path,
        # Every file the worker reads is where the Pod mounts it (specs/mounts.py); the Secrets' names
        # and keys stay the operator's business.
        stream_key_file=file_in(mounts.stream_key, STREAM_KEY_FILE),
        pull_username_file=file_in(mounts.pull_credentials, PULL_USERNAME_FILE),
        pull_password_file=file_in(mounts.pull_credentials, PULL_PASSWORD_FILE),
        pull_tls_ca_file=file_in(mounts.pull_ca, PULL_CA_FILE),
        credential_file=CREDENTIAL_FILE,
        egress=egress if source.pull else None,  # a push ingest connects nowhere a tenant names
        tls_cert_file=file_in(mounts.tls, TLS_CERT_FILE),
        tls_key_file=file_in(mounts.tls, TLS_KEY_FILE),
        bind_address=bind_address,
        path_prefix=path_prefix,
        primary_url=primary_url if role == "backup" else None,
        # None without overlays: the configuration (and Pod hash) of other ingests stays what it was.
        # Every overlay, enabled or not: `enabled` is switched live (POST /overlays), not restarted.
        overlays=[IngestOverlay(name=o.name, x=o.left, y=o.top, width=o.width, height=o.height) for o in overlays]
        or None,
        overlay_dir=directory_of(mounts.overlays),
        webrtc=ingest_webrtc(stream, whep, advertise, whep_caps, file_in(mounts.ice_servers, ICE_SERVERS_FILE))
        if webrtc
        else None,
        # None for a public stream counting viewers over the contract's window: its configuration (and
        # Pod hash) stays what it was before signing existed.
        playback=IngestPlayback(
            namespace=stream.metadata.namespace or "",
            access="signed" if signed else "public",
            keys_dir=directory_of(mounts.playback_keys),
            viewer_window_seconds=None if viewer_window == VIEWER_WINDOW_SECONDS else viewer_window,
            rules_file=file_in(mounts.playback_rules, RULES_FILE),
            geoip_file=file_in(mounts.geoip, geoip_file) if geoip_file else None,
        )
        if signed or viewer_window != VIEWER_WINDOW_SECONDS or mounts.playback_rules is not None
        else None,
        # None without SRT or RTSP for readers: the configuration (and Pod hash) of other ingests stays.
        readers=IngestReaders(
            srt="srt-read" in readers,
            rtsp="rtsp" in readers,
            rtsps="rtsps" in readers,
            tls_cert_file=file_in(mounts.rtsps_tls, TLS_CERT_FILE),
            tls_key_file=file_in(mounts.rtsps_tls, TLS_KEY_FILE),
        )
        if readers
        else None,
        encryption=spec.playback.encryption,  # None unless set: other ingests' configuration stays
    )
