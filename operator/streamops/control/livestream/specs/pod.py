"""A LiveStream's ingest Pod (per role)."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.contract.egress_policy import configured_policy
from streamops.contract.ingest import CONFIG_ENV, Role
from streamops.contract.worker_credential import credential_secret_name
from streamops.control.livestream.exposure import WebRtcAdvertise
from streamops.control.livestream.specs.child_metadata import child_metadata
from streamops.control.livestream.specs.features import webrtc_on, whep_on
from streamops.control.livestream.specs.mounts import ingest_mounts
from streamops.control.livestream.specs.overlay_sidecar import overlay_sidecar
from streamops.control.livestream.specs.ports import container_ports
from streamops.control.livestream.specs.route import path_prefix, playback_path
from streamops.control.livestream.specs.worker_config import WhepCaps, ingest_worker_config
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import (
    IngestPortMap,
    ingest_component,
    ingest_internal_url,
    ingest_names,
    playback_signed,
)
from streamops.control.workers.mounts import container_mounts, pod_volumes
from streamops.control.workers.placement import UNSEEN, Spread
from streamops.control.workers.worker_pod import WorkerContainer, worker_pod
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    child_labels,
)


def _resources(stream: LiveStream, settings: OperatorSettings) -> Manifest:
    """The stream's own, else the operator's default for its kind of ingest (worker_resources.py)."""
    if stream.spec.resources:
        return stream.spec.resources.wire()
    defaults = settings.worker.resources
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
    spread: Spread = UNSEEN,
) -> Manifest:
    """`host_ports`: the role's allocation when workers run on the host network; `primary_ports`:
    the primary's, where a backup sends its feed while the primary asks for it; `advertise`: where
    WebRTC peers reach the primary (exposure.webrtc_advertise); `spread`: how far a backup keeps
    from its primary (workers/placement.py)."""
    names = ingest_names(stream.metadata.name, role)
    signed = playback_signed(stream, settings.playback)
    mounts = ingest_mounts(stream, role, webrtc_on(stream, role, settings.playback), signed, settings.playback.geoip)
    worker = WorkerContainer(
        name="ingest",
        config_env=CONFIG_ENV,
        # The prefix is the route's path even without a route: adding an Ingress later must not
        # restart a live ingest (the config is part of the Pod's spec hash).
        config=ingest_worker_config(
            stream,
            role,
            host_ports,
            settings.worker.bind_address,
            path_prefix(playback_path(stream, settings)),
            primary_url=ingest_internal_url(stream, settings.worker.address, primary_ports)
            if role == "backup"
            else None,
            advertise=advertise,
            whep=whep_on(stream, settings.playback),
            signed=signed,
            trusted_proxies=settings.playback.trusted_proxy_cidrs,
            publish_over_http=settings.ingest.publish_over_http,
            viewer_window=settings.playback.viewer_window_seconds,
            whep_caps=WhepCaps(
                settings.playback.webrtc_max_viewers,
                settings.playback.webrtc_max_viewers_per_address,
                settings.playback.webrtc_max_viewers_per_token,
            ),
            egress=configured_policy(
                settings.egress.allow_cidrs, settings.egress.cluster_cidrs, settings.cluster_domain
            ),
            mounts=mounts,
            geoip_file=settings.playback.geoip.file if settings.playback.geoip else None,
        ),
        # Ready while it accepts publishers (or pulls), not only while live: the Service must route
        # encoders to it before media flows. `live` comes from the worker's /status.
        ports=container_ports(stream, role, settings, host_ports),
        resources=_resources(stream, settings),
        volumes=pod_volumes(mounts.table()),
        mounts=container_mounts(mounts.table()),
        env=[POD_IP_ENV] if webrtc_on(stream, role, settings.playback) else [],
        credential_secret=credential_secret_name(stream.metadata.name),
    )
    affinity = backup_anti_affinity(stream, spread) if role == "backup" else None
    sidecar = overlay_sidecar(stream, settings)
    return worker_pod(
        child_metadata(stream, names.pod, names.component),
        worker,
        settings,
        host_ports,
        affinity,
        sidecars=[sidecar] if sidecar else None,
    )


def backup_anti_affinity(stream: LiveStream, spread: Spread = UNSEEN) -> Manifest:
    """The backup ingest keeps off its primary's zone or node, as `spread` says (workers/placement.py):
    required where the cluster allows it, else preferred (on one node both still run). Only the
    backup carries it: the scheduler applies it both ways (a required term keeps a new primary out of
    the backup's zone too, a preferred one scores against it), so adding a backup, or a change of the
    cluster's zones, leaves the live primary's Pod (its spec parts) untouched."""
    primary = child_labels(stream.metadata.name, ingest_component("primary"))
    term = {
        "labelSelector": {"matchLabels": {k: primary[k] for k in (INSTANCE_LABEL, COMPONENT_LABEL)}},
        "topologyKey": spread.topology,
    }
    if spread.required:
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }
