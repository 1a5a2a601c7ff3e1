"""What an ingest Pod mounts where, and when: the one table both its Pod (volumes, mounts) and its
worker's configuration (the files it names) read, so they cannot disagree on a Secret."""

from __future__ import annotations

from dataclasses import dataclass, fields

from streamops.api import LiveStream
from streamops.contract.ingest import (
    GEOIP_DIR,
    ICE_SERVERS_DIR,
    ICE_SERVERS_FILE,
    MEDIA_DIR,
    PLAYBACK_KEYS_DIR,
    PULL_CA_DIR,
    PULL_CA_FILE,
    PULL_CREDENTIALS_DIR,
    PULL_PASSWORD_FILE,
    PULL_USERNAME_FILE,
    RTSPS_TLS_DIR,
    RULES_CONFIGMAP,
    RULES_DIR,
    RULES_FILE,
    STREAM_KEY_DIR,
    STREAM_KEY_FILE,
    TLS_CERT_FILE,
    TLS_DIR,
    TLS_KEY_FILE,
    Role,
)
from streamops.contract.overlay import OVERLAY_DIR
from streamops.control.livestream.specs.features import ice_servers_ref
from streamops.control.livestream.specs.overlay_sidecar import OVERLAY_TMP_VOLUME, OVERLAY_VOLUME, composited_overlays
from streamops.control.livestream.specs.secret import stream_key_ref, tls_secret_name
from streamops.control.shared.settings import GeoIPDatabase
from streamops.control.workers.mounts import Mount, playback_keys_mount
from streamops.control.workers.worker_pod import secret_file_volume, secret_files_volume

TLS_VOLUME = "rtmps-tls"
RTSPS_TLS_VOLUME = "rtsps-tls"
ICE_SERVERS_VOLUME = "ice-servers"
PULL_CREDENTIALS_VOLUME = "pull-credentials"
PULL_CA_VOLUME = "pull-ca"
RULES_VOLUME = "playback-rules"
GEOIP_VOLUME = "geoip"


@dataclass(frozen=True)
class IngestMounts:
    """The ingest Pod's volumes in the Pod's order; None: not there for this stream and role."""

    media: Mount
    stream_key: Mount | None = None
    tls: Mount | None = None
    pull_credentials: Mount | None = None
    pull_ca: Mount | None = None
    ice_servers: Mount | None = None
    overlays: Mount | None = None
    overlay_scratch: Mount | None = None  # the overlay sidecar's /tmp: not the ingest's
    playback_keys: Mount | None = None
    rtsps_tls: Mount | None = None  # the readers' RTSPS certificate (playback.rtsp.tls), the primary's
    playback_rules: Mount | None = None  # the PlaybackPolicy's rules (playback.policyRef)
    geoip: Mount | None = None  # the admin's GeoIP database, with a policy

    def table(self) -> list[Mount]:
        return [m for f in fields(self) if (m := getattr(self, f.name)) is not None]


def ingest_mounts(
    stream: LiveStream, role: Role, webrtc: bool, signed: bool, geoip: GeoIPDatabase | None = None
) -> IngestMounts:
    """`webrtc`: the role runs the WebRTC component (features.webrtc_on); `signed`: playback needs
    tokens (ingest_address.playback_signed); `geoip`: the operator's (OperatorSettings.playback.geoip)."""
    key_ref = stream_key_ref(stream)
    tls_secret = tls_secret_name(stream)
    pull = stream.spec.source.pull
    credentials = pull.credentials_secret_ref if pull is not None else None
    pull_ca = pull.tls.ca_secret_ref if pull is not None and pull.tls is not None else None
    ice_servers = ice_servers_ref(stream) if webrtc else None
    overlays = bool(composited_overlays(stream))
    rtsp = stream.spec.playback.rtsp
    rtsps_secret = rtsp.tls.secret_name if role == "primary" and rtsp and rtsp.enabled and rtsp.tls else None
    policy = stream.spec.playback.policy_ref is not None
    return IngestMounts(
        media=Mount({"name": "media", "emptyDir": {}}, MEDIA_DIR, read_only=False),
        stream_key=Mount(secret_file_volume("stream-key", key_ref.name, key_ref.key, STREAM_KEY_FILE), STREAM_KEY_DIR)
        if key_ref is not None
        else None,
        # The whole key pair, not a subPath: the kubelet's updates (a renewal) reach the running
        # worker, which reloads them. Group-readable only: fsGroup makes the worker's group own it.
        tls=Mount(
            secret_files_volume(
                TLS_VOLUME, tls_secret, {TLS_CERT_FILE: TLS_CERT_FILE, TLS_KEY_FILE: TLS_KEY_FILE}, mode=0o440
            ),
            TLS_DIR,
        )
        if tls_secret is not None
        else None,
        # Files, read at every connection attempt: a changed password reaches the next one. Optional:
        # a missing key must not keep the Pod from starting; the worker says so (status.pullFailure,
        # the Live condition). A missing Secret is never mounted under tenancy.requireSecretLabel
        # (admission.py: the kubelet would fill it in unchecked once it appears).
        pull_credentials=Mount(
            secret_files_volume(
                PULL_CREDENTIALS_VOLUME,
                credentials.name,
                {credentials.username_key: PULL_USERNAME_FILE, credentials.password_key: PULL_PASSWORD_FILE},
                mode=0o440,
                optional=True,
            ),
            PULL_CREDENTIALS_DIR,
        )
        if credentials is not None
        else None,
        # A file (FFmpeg's ca_file), read at every attempt. Optional: a missing Secret or key lets the
        # Pod start; the worker pulls from no rtmps/https origin without it and says so (pullFailure).
        pull_ca=Mount(
            secret_file_volume(PULL_CA_VOLUME, pull_ca.name, pull_ca.key, PULL_CA_FILE, optional=True), PULL_CA_DIR
        )
        if pull_ca is not None
        else None,
        # A file, not an env var: a rotated credential reaches the running worker (it reads the file
        # again when it changes). Optional: a missing Secret or key must not keep the ingest from
        # starting; the worker reports it (status.webrtc.iceServersProblem) and serves no servers.
        ice_servers=Mount(
            secret_file_volume(ICE_SERVERS_VOLUME, ice_servers.name, ice_servers.key, ICE_SERVERS_FILE, optional=True),
            ICE_SERVERS_DIR,
        )
        if ice_servers is not None
        else None,
        # Writable: the ingest puts a transparent placeholder there before FFmpeg opens the PNGs.
        overlays=Mount({"name": OVERLAY_VOLUME, "emptyDir": {}}, OVERLAY_DIR, read_only=False) if overlays else None,
        overlay_scratch=Mount({"name": OVERLAY_TMP_VOLUME, "emptyDir": {}}, None) if overlays else None,
        playback_keys=playback_keys_mount(PLAYBACK_KEYS_DIR) if signed else None,
        # As the RTMPS pair: the whole Secret, so a renewal reaches the running readers' component.
        rtsps_tls=Mount(
            secret_files_volume(
                RTSPS_TLS_VOLUME, rtsps_secret, {TLS_CERT_FILE: TLS_CERT_FILE, TLS_KEY_FILE: TLS_KEY_FILE}, mode=0o440
            ),
            RTSPS_TLS_DIR,
        )
        if rtsps_secret is not None
        else None,
        # The stream's key of the namespace's rules ConfigMap, whichever policy it names: naming another
        # policy, or editing one, changes the file, not the Pod (the kubelet swaps it in; the worker
        # reads it again). Optional: a policy that does not exist is a missing key, and the worker
        # refuses every viewer (fail closed).
        playback_rules=Mount(
            {
                "name": RULES_VOLUME,
                "configMap": {
                    "name": RULES_CONFIGMAP,
                    "items": [{"key": f"{stream.metadata.name}.json", "path": RULES_FILE}],
                    "optional": True,
                },
            },
            RULES_DIR,
        )
        if policy
        else None,
        # With any policy, not only one naming countries: an edit that adds countries then restarts nothing.
        geoip=Mount({"name": GEOIP_VOLUME, **geoip.volume}, GEOIP_DIR) if policy and geoip is not None else None,
    )
