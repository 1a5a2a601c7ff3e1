"""A LiveStream's ingest Pod (per role)."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.contract.egress_policy import configured_policy
from streamops.contract.ingest import (
    CONFIG_ENV,
    ICE_SERVERS_DIR,
    ICE_SERVERS_FILE,
    MEDIA_DIR,
    PLAYBACK_KEYS_DIR,
    PULL_CA_DIR,
    PULL_CA_FILE,
    PULL_CREDENTIALS_DIR,
    PULL_PASSWORD_FILE,
    PULL_USERNAME_FILE,
    STREAM_KEY_DIR,
    STREAM_KEY_FILE,
    TLS_CERT_FILE,
    TLS_DIR,
    TLS_KEY_FILE,
    Role,
)
from streamops.contract.overlay import OVERLAY_DIR
from streamops.contract.playback_token import KEYS_SECRET
from streamops.contract.worker_credential import credential_secret_name
from streamops.control.livestream.exposure import WebRtcAdvertise
from streamops.control.livestream.specs.child_metadata import child_metadata
from streamops.control.livestream.specs.features import ice_servers_ref, webrtc_on, whep_on
from streamops.control.livestream.specs.overlay_sidecar import (
    OVERLAY_TMP_VOLUME,
    OVERLAY_VOLUME,
    composited_overlays,
    overlay_sidecar,
)
from streamops.control.livestream.specs.ports import container_ports
from streamops.control.livestream.specs.route import path_prefix, playback_path
from streamops.control.livestream.specs.secret import stream_key_ref, tls_secret_name
from streamops.control.livestream.specs.worker_config import WhepCaps, ingest_worker_config
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import (
    IngestPortMap,
    ingest_component,
    ingest_internal_url,
    ingest_names,
    playback_signed,
)
from streamops.control.workers.worker_pod import (
    WorkerContainer,
    secret_file_volume,
    secret_files_volume,
    worker_pod,
)
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    COMPONENT_LABEL,
    HOSTNAME_TOPOLOGY,
    INSTANCE_LABEL,
    child_labels,
)

TLS_VOLUME = "rtmps-tls"
ICE_SERVERS_VOLUME = "ice-servers"
PULL_CREDENTIALS_VOLUME = "pull-credentials"
PULL_CA_VOLUME = "pull-ca"
PLAYBACK_KEYS_VOLUME = "playback-keys"


def _resources(stream: LiveStream, settings: OperatorSettings) -> Manifest:
    """The stream's own, else the operator's default for its kind of ingest (worker_resources.py)."""
    if stream.spec.resources:
        return stream.spec.resources.wire()
    defaults = settings.worker_resources
    return (defaults.transcoding if stream.spec.has_ladder else defaults.ingest).wire()


# The Pod's own address, for the WebRTC component: only it gathers ICE candidates (with host networking
# that is the node's address, never another interface of the node).
POD_IP_ENV: Manifest = {"name": "STREAMOPS_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def ingest_pod(
    stream: LiveStream,
    role: Role,
    settings: OperatorSettings,
    host_ports: IngestPortMap | None = None,
    primary_ports: IngestPortMap | None = None,
    advertise: WebRtcAdvertise | None = None,
) -> Manifest:
    """`host_ports`: the role's allocation when workers run on the host network; `primary_ports`:
    the primary's, where a backup sends its feed while the primary asks for it; `advertise`: where
    WebRTC peers reach the primary (exposure.webrtc_advertise)."""
    names = ingest_names(stream.metadata.name, role)
    key_ref = stream_key_ref(stream)
    volumes: list[Manifest] = [{"name": "media", "emptyDir": {}}]
    mounts: list[Manifest] = [{"name": "media", "mountPath": MEDIA_DIR}]
    if key_ref is not None:
        volumes.append(secret_file_volume("stream-key", key_ref.name, key_ref.key, STREAM_KEY_FILE))
        mounts.append({"name": "stream-key", "mountPath": STREAM_KEY_DIR, "readOnly": True})
    tls_secret = tls_secret_name(stream)
    if tls_secret is not None:
        # The whole key pair, not a subPath: the kubelet's updates (a renewal) reach the running
        # worker, which reloads them. Group-readable only: fsGroup makes the worker's group own it.
        files = {TLS_CERT_FILE: TLS_CERT_FILE, TLS_KEY_FILE: TLS_KEY_FILE}
        volumes.append(secret_files_volume(TLS_VOLUME, tls_secret, files, mode=0o440))
        mounts.append({"name": TLS_VOLUME, "mountPath": TLS_DIR, "readOnly": True})
    pull = stream.spec.source.pull
    if pull is not None and pull.credentials_secret_ref is not None:
        # Files, read at every connection attempt: a changed password reaches the next one. Optional:
        # a missing key must not keep the Pod from starting; the worker says so (status.pullFailure,
        # the Live condition). A missing Secret is never mounted under tenancy.requireSecretLabel
        # (admission.py: the kubelet would fill it in unchecked once it appears).
        ref = pull.credentials_secret_ref
        files = {ref.username_key: PULL_USERNAME_FILE, ref.password_key: PULL_PASSWORD_FILE}
        volumes.append(secret_files_volume(PULL_CREDENTIALS_VOLUME, ref.name, files, mode=0o440, optional=True))
        mounts.append({"name": PULL_CREDENTIALS_VOLUME, "mountPath": PULL_CREDENTIALS_DIR, "readOnly": True})
    pull_ca = pull.tls.ca_secret_ref if pull is not None and pull.tls is not None else None
    if pull_ca is not None:
        # A file (FFmpeg's ca_file), read at every attempt. Optional: a missing Secret or key lets the
        # Pod start; the worker pulls from no rtmps/https origin without it and says so (pullFailure).
        volumes.append(secret_file_volume(PULL_CA_VOLUME, pull_ca.name, pull_ca.key, PULL_CA_FILE, optional=True))
        mounts.append({"name": PULL_CA_VOLUME, "mountPath": PULL_CA_DIR, "readOnly": True})
    ice_servers = ice_servers_ref(stream)
    if ice_servers is not None and webrtc_on(stream, role, settings):
        # A file, not an env var: a rotated credential reaches the running worker (it reads the file
        # again when it changes). Optional: a missing Secret or key must not keep the ingest from
        # starting; the worker reports it (status.webrtc.iceServersProblem) and serves no servers.
        volumes.append(
            secret_file_volume(ICE_SERVERS_VOLUME, ice_servers.name, ice_servers.key, ICE_SERVERS_FILE, optional=True)
        )
        mounts.append({"name": ICE_SERVERS_VOLUME, "mountPath": ICE_SERVERS_DIR, "readOnly": True})
    if composited_overlays(stream):
        volumes += [{"name": OVERLAY_VOLUME, "emptyDir": {}}, {"name": OVERLAY_TMP_VOLUME, "emptyDir": {}}]
        # Writable: the ingest puts a transparent placeholder there before FFmpeg opens the PNGs.
        mounts.append({"name": OVERLAY_VOLUME, "mountPath": OVERLAY_DIR})
    signed = playback_signed(stream, settings)
    if signed:
        # The directory, not files: a rotation (a new `current`, the old one as `previous`) reaches the
        # running worker. Not optional: the operator creates the Secret before the Pod.
        volumes.append({"name": PLAYBACK_KEYS_VOLUME, "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o440}})
        mounts.append({"name": PLAYBACK_KEYS_VOLUME, "mountPath": PLAYBACK_KEYS_DIR, "readOnly": True})
    worker = WorkerContainer(
        name="ingest",
        config_env=CONFIG_ENV,
        # The prefix is the route's path even without a route: adding an Ingress later must not
        # restart a live ingest (the config is part of the Pod's spec hash).
        config=ingest_worker_config(
            stream,
            role,
            host_ports,
            settings.worker_bind_address,
            path_prefix(playback_path(stream, settings)),
            primary_url=ingest_internal_url(stream, settings.worker_address, primary_ports)
            if role == "backup"
            else None,
            advertise=advertise,
            whep=whep_on(stream, settings),
            signed=signed,
            trusted_proxies=settings.trusted_proxy_cidrs,
            publish_over_http=settings.publish_over_http,
            viewer_window=settings.viewer_window_seconds,
            whep_caps=WhepCaps(
                settings.webrtc_max_viewers,
                settings.webrtc_max_viewers_per_address,
                settings.webrtc_max_viewers_per_token,
            ),
            egress=configured_policy(
                settings.egress_allow_cidrs, settings.egress_cluster_cidrs, settings.cluster_domain
            ),
        ),
        # Ready while it accepts publishers (or pulls), not only while live: the Service must route
        # encoders to it before media flows. `live` comes from the worker's /status.
        ports=container_ports(stream, role, settings, host_ports),
        resources=_resources(stream, settings),
        volumes=volumes,
        mounts=mounts,
        env=[POD_IP_ENV] if webrtc_on(stream, role, settings) else [],
        credential_secret=credential_secret_name(stream.metadata.name),
    )
    affinity = backup_anti_affinity(stream) if role == "backup" else None
    sidecar = overlay_sidecar(stream, settings)
    return worker_pod(
        child_metadata(stream, names.pod, names.component),
        worker,
        settings,
        host_ports,
        affinity,
        sidecars=[sidecar] if sidecar else None,
    )


def backup_anti_affinity(stream: LiveStream) -> Manifest:
    """The backup ingest prefers a node its primary does not run on, so that one lost node takes only
    one of them. Preferred, not required: on one node both still run. Only the backup carries it,
    so adding a backup leaves the live primary's Pod (its spec hash) untouched."""
    primary = child_labels(stream.metadata.name, ingest_component("primary"))
    term = {
        "labelSelector": {"matchLabels": {k: primary[k] for k in (INSTANCE_LABEL, COMPONENT_LABEL)}},
        "topologyKey": HOSTNAME_TOPOLOGY,
    }
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }
