"""Pure builders of a LiveStream's children (stream-key Secret, ingest Pods and Services, playback
route, the auto Recording) and of the URLs its status shows (push endpoints, playback)."""

from __future__ import annotations

import json
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Literal

from streamops.api import API_VERSION, LiveStream
from streamops.api.common import SecretKeyRef
from streamops.api.livestream import (
    RTMPS_LOAD_BALANCER_PORT,
    IceServersSecretRef,
    IngestEndpoints,
    IngestService,
    Overlay,
    Playback,
    PlaybackHttpRoute,
    PlaybackIngress,
)
from streamops.contract.edge import EDGE_NAME
from streamops.contract.edge import HTTP_PORT as EDGE_HTTP_PORT
from streamops.contract.ingest import (
    CONFIG_ENV,
    DASH_MANIFEST,
    HLS_CMAF_PLAYLIST,
    HLS_MPEGTS_PLAYLIST,
    ICE_SERVERS_DIR,
    ICE_SERVERS_FILE,
    MEDIA_DIR,
    PLAYBACK_KEYS_DIR,
    PLAYER_PAGE,
    RTMPS_PORT,
    SCREENSHOT_PATH,
    STREAM_KEY_DIR,
    STREAM_KEY_FILE,
    TLS_CERT_FILE,
    TLS_DIR,
    TLS_KEY_FILE,
    VIEWER_WINDOW_SECONDS,
    WHEP_PATH,
    WHIP_PATH,
    IngestConfig,
    IngestOverlay,
    IngestPlayback,
    IngestWebRtc,
    Role,
)
from streamops.contract.overlay import CONFIG_ENV as OVERLAY_CONFIG_ENV
from streamops.contract.overlay import OVERLAY_DIR, OverlayRendererConfig, RenderedOverlay, box_pixels
from streamops.contract.playback_token import KEYS_SECRET
from streamops.contract.worker_credential import CREDENTIAL_FILE, CREDENTIAL_KEY, credential_secret_name
from streamops.control.livestream.exposure import PlaybackBase, Reach, ReachInputs, WebRtcAdvertise
from streamops.control.shared.ingest_address import (
    POD_NETWORK_PORTS,
    WEBRTC_PORT_NAMES,
    IngestPortMap,
    in_cluster_host,
    ingest_component,
    ingest_internal_url,
    ingest_names,
    ingest_ports,
    playback_signed,
)
from streamops.control.shared.manifests import Manifest
from streamops.control.shared.naming import (
    COMPONENT_LABEL,
    EDGE_OWNER_ANNOTATION,
    HOST_PORTS_ANNOTATION,
    HOSTNAME_TOPOLOGY,
    INSTANCE_LABEL,
    MANAGED_ANNOTATIONS_ANNOTATION,
    PLAYBACK_ROUTE_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    STREAM_NAME_ANNOTATION,
    child_labels,
    child_name,
    owner_reference,
)
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS
from streamops.control.shared.worker_pod import (
    WorkerContainer,
    secret_file_volume,
    secret_files_volume,
    spec_hash,
    worker_pod,
)
from streamops.egress.policy import configured_policy

GENERATED_KEY_NAME = "streamKey"
OVERLAY_VOLUME = "overlays"
OVERLAY_TMP_VOLUME = "overlay-tmp"


def ingest_roles(stream: LiveStream) -> list[Role]:
    push = stream.spec.source.push
    return ["primary", "backup"] if push and push.backup else ["primary"]


def stream_key_ref(stream: LiveStream) -> SecretKeyRef | None:
    """Where the stream key lives: the referenced Secret, or the generated one. None for pull streams."""
    push = stream.spec.source.push
    if push is None:
        return None
    if push.stream_key_secret_ref is not None:
        return push.stream_key_secret_ref
    return SecretKeyRef(name=child_name(stream.metadata.name, "stream-key")[:253], key=GENERATED_KEY_NAME)


def _owner(stream: LiveStream) -> Manifest:
    assert stream.metadata.uid, "an object read from the API server has a uid"
    return owner_reference(stream.kind, stream.metadata.name, stream.metadata.uid)


def _metadata(stream: LiveStream, name: str, component: str) -> Manifest:
    return {
        "name": name,
        "namespace": stream.metadata.namespace,
        "labels": child_labels(stream.metadata.name, component),
        "annotations": {STREAM_NAME_ANNOTATION: stream.metadata.name},
        "ownerReferences": [_owner(stream)],
    }


def _labelled(metadata: Manifest, labels: dict[str, str]) -> Manifest:
    return {**metadata, "labels": {**metadata["labels"], **labels}}


def worker_credential_secret(stream: LiveStream, credential: str) -> Manifest:
    """The stream's worker credential (contract.worker_credential), owned by the stream."""
    name = credential_secret_name(stream.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(stream, name, "worker-credential"),
        "data": {CREDENTIAL_KEY: b64encode(credential.encode()).decode()},
    }


def stream_key_secret(stream: LiveStream, key: str) -> Manifest:
    """The generated stream-key Secret (owned by the stream: it goes away with it). Labelled for use
    by specs of the namespace (a Restream to this stream names it, tenancy.py)."""
    ref = stream_key_ref(stream)
    assert ref is not None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _labelled(_metadata(stream, ref.name, "stream-key"), ALLOW_REFERENCE_LABELS),
        "data": {ref.key: b64encode(key.encode()).decode()},
    }


# Allocated to every push ingest on the host network, whatever its protocols: an allocation
# outlives protocol changes. rtmps is added only for streams that list it (ingest_port_names).
BASE_PORT_NAMES = ("http", "rtmp", "srt")
# The ingest's internal face (feeds, status, metrics, the overlay switch, the backup uplink): on the
# Pod and on the internal ClusterIP Service only (ingest_internal_service), never on the external one.
INTERNAL_PORT_NAME = "internal"
TLS_VOLUME = "rtmps-tls"
ICE_SERVERS_VOLUME = "ice-servers"
PLAYBACK_KEYS_VOLUME = "playback-keys"


def edge_on(stream: LiveStream, settings: OperatorSettings) -> bool:
    """spec.playback.edge.enabled, else the operator's default; only for a stream with a route."""
    enabled = stream.spec.playback.edge.enabled
    return settings.edge_enabled if enabled is None else enabled


def ingest_port_names(stream: LiveStream, role: Role, settings: OperatorSettings) -> tuple[str, ...]:
    """The ports a role's ingest is given on the host network. The internal one is not a base
    port: an allocation made before it existed keeps its ports and gains that one (_host_ports)."""
    names = (*BASE_PORT_NAMES, "rtmps") if _rtmps(stream) else BASE_PORT_NAMES
    if webrtc_on(stream, role, settings):
        names = (*names, "webrtc-udp", "webrtc-tcp") if stream.spec.ingest.webrtc.ice_tcp else (*names, "webrtc-udp")
    return (*names, INTERNAL_PORT_NAME)


def whip_on(stream: LiveStream, role: Role) -> bool:
    """WHIP is the primary's only: the hosted platform has no backup WHIP link either."""
    push = stream.spec.source.push
    return role == "primary" and push is not None and "whip" in push.protocols


def whep_on(stream: LiveStream, settings: OperatorSettings) -> bool:
    """WebRTC playback: the stream's choice, else the operator's default."""
    own = stream.spec.playback.webrtc.enabled
    return settings.webrtc_playback if own is None else own


def webrtc_on(stream: LiveStream, role: Role, settings: OperatorSettings) -> bool:
    """The primary ingest runs the WebRTC component when it takes WHIP or serves WHEP."""
    return role == "primary" and (whip_on(stream, role) or whep_on(stream, settings))


def ingest_webrtc(stream: LiveStream, whep: bool, advertise: WebRtcAdvertise | None) -> IngestWebRtc:
    """The component's settings from the spec and where the exposure says peers reach it."""
    own = stream.spec.ingest.webrtc
    advertise = advertise or WebRtcAdvertise()
    return IngestWebRtc(
        whep=whep,
        b_frames=stream.spec.playback.webrtc.b_frames,
        ice_tcp=own.ice_tcp,
        advertise_hosts=list(advertise.hosts),
        advertise_udp_port=advertise.udp_port if advertise.hosts else None,
        advertise_tcp_port=advertise.tcp_port if advertise.hosts and own.ice_tcp else None,
        ice_servers_file=f"{ICE_SERVERS_DIR}/{ICE_SERVERS_FILE}" if ice_servers_ref(stream) else None,
    )


def ice_servers_ref(stream: LiveStream) -> IceServersSecretRef | None:
    """The Secret key with the STUN/TURN servers for WebRTC clients, if the stream names one."""
    return stream.spec.playback.webrtc.ice_servers_secret_ref


def _rtmps(stream: LiveStream) -> bool:
    push = stream.spec.source.push
    return push is not None and "rtmps" in push.protocols


def tls_secret_name(stream: LiveStream) -> str | None:
    """The kubernetes.io/tls Secret the RTMPS listener's certificate comes from (with rtmps)."""
    push = stream.spec.source.push
    return push.tls.secret_name if push is not None and push.tls is not None and _rtmps(stream) else None


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
) -> IngestConfig:
    """What the ingest worker needs from the spec (see IngestConfig); `primary_url`: a backup's primary;
    `advertise`: the primary's WebRTC address as the exposure gives it; `whep`: WebRTC playback on
    (whep_on); `signed`: playback needs tokens (the keys mounted at PLAYBACK_KEYS_DIR);
    `trusted_proxies`: the operator's (OperatorSettings.trusted_proxy_cidrs); `viewer_window`: the
    operator's viewer_window_seconds."""
    spec = stream.spec
    source, key_file = spec.source, None
    ports = dict(ports or POD_NETWORK_PORTS)
    if not _rtmps(stream):
        ports.pop("rtmps", None)  # unset, so a stream without rtmps keeps the configuration it had
    webrtc = role == "primary" and (whip_on(stream, role) or whep)
    if not webrtc:  # likewise
        for name in WEBRTC_PORT_NAMES:
            ports.pop(name, None)
    elif not spec.ingest.webrtc.ice_tcp:
        ports.pop("webrtc-tcp", None)
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
        key_file = f"{STREAM_KEY_DIR}/{STREAM_KEY_FILE}"
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
        ports=ingest_ports(ports),
        media_dir=MEDIA_DIR,
        stream_key_file=key_file,
        credential_file=CREDENTIAL_FILE,
        tls_cert_file=f"{TLS_DIR}/{TLS_CERT_FILE}" if _rtmps(stream) else None,
        tls_key_file=f"{TLS_DIR}/{TLS_KEY_FILE}" if _rtmps(stream) else None,
        bind_address=bind_address,
        path_prefix=path_prefix,
        primary_url=primary_url if role == "backup" else None,
        # None without overlays: the configuration (and Pod hash) of other ingests stays what it was.
        # Every overlay, enabled or not: `enabled` is switched live (POST /overlays), not restarted.
        overlays=[IngestOverlay(name=o.name, x=o.left, y=o.top, width=o.width, height=o.height) for o in overlays]
        or None,
        overlay_dir=OVERLAY_DIR if overlays else None,
        webrtc=ingest_webrtc(stream, whep, advertise) if webrtc else None,
        # None for a public stream counting viewers over the contract's window: its configuration (and
        # Pod hash) stays what it was before signing existed.
        playback=IngestPlayback(
            namespace=stream.metadata.namespace or "",
            access="signed" if signed else "public",
            keys_dir=PLAYBACK_KEYS_DIR if signed else None,
            viewer_window_seconds=None if viewer_window == VIEWER_WINDOW_SECONDS else viewer_window,
        )
        if signed or viewer_window != VIEWER_WINDOW_SECONDS
        else None,
    )


def composited_overlays(stream: LiveStream) -> list[Overlay]:
    """The overlays composited, enabled or not, bottom first: by zIndex, equal ones in list order (a
    stable sort). A disabled one is a transparent PNG: `enabled` reaches the ingest by POST /overlays
    (overlays.py), so switching it leaves the Pod (its spec hash) as it is. None without transcoding
    renditions (the API refuses that; an older object may have it)."""
    spec = stream.spec
    if not (spec.overlays and spec.transcoding and spec.transcoding.renditions):
        return []
    return sorted(spec.overlays, key=lambda o: o.z_index)


def overlay_renderer_config(stream: LiveStream) -> OverlayRendererConfig | None:
    """The renderer sidecar's configuration: each overlay's page (enabled or not: it opens those the
    switch turns on) with a viewport of its box in pixels of the tallest rendition (16:9 assumed;
    FFmpeg scales it to the real box)."""
    overlays = composited_overlays(stream)
    if not overlays or stream.spec.transcoding is None:
        return None
    tallest = max(r.height for r in stream.spec.transcoding.renditions)
    rendered = []
    for o in overlays:
        width, height = box_pixels(o.width, o.height, tallest)
        rendered.append(
            RenderedOverlay(name=o.name, url=o.url, width=width, height=height, allowed_hosts=o.allowed_hosts)
        )
    return OverlayRendererConfig(stream=stream.metadata.name, overlays=rendered, directory=OVERLAY_DIR)


# The renderer: Chromium's browser, GPU and one renderer process per page. Measured (bench-overlays,
# bench/results/overlays.md): one page changing every second ≈10 % of a core, ≈430 MiB PSS.
OVERLAY_RESOURCES: Manifest = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"memory": "1536Mi"},
}


def overlay_sidecar(stream: LiveStream, settings: OperatorSettings) -> Manifest | None:
    """The container rendering the overlays into the volume it shares with the ingest."""
    config = overlay_renderer_config(stream)
    if config is None:
        return None
    # Where the renderer's Chromium may go (docs/design/egress.md): unchanged when the admin set nothing.
    config.egress = configured_policy(
        settings.egress_allow_cidrs, settings.egress_cluster_cidrs, settings.cluster_domain
    )
    return {
        "name": "overlay",
        "image": settings.overlay_image,
        "imagePullPolicy": settings.overlay_image_pull_policy,
        "args": ["worker", "overlay"],
        "env": [{"name": OVERLAY_CONFIG_ENV, "value": config.to_json()}],
        "resources": OVERLAY_RESOURCES,
        "volumeMounts": [
            {"name": OVERLAY_VOLUME, "mountPath": OVERLAY_DIR},
            # Chromium's throwaway profile and its shared memory files (--disable-dev-shm-usage):
            # the root filesystem is read-only.
            {"name": OVERLAY_TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }


def _resources(stream: LiveStream, settings: OperatorSettings) -> Manifest:
    """The stream's own, else the operator's default for its kind of ingest (worker_resources.py)."""
    if stream.spec.resources:
        return stream.spec.resources.wire()
    defaults = settings.worker_resources
    transcoding = stream.spec.transcoding and stream.spec.transcoding.renditions
    return (defaults.transcoding if transcoding else defaults.ingest).wire()


def _ports(
    stream: LiveStream, role: Role, settings: OperatorSettings, ports: IngestPortMap | None = None
) -> dict[str, tuple[int, str]]:
    ports = ports or POD_NETWORK_PORTS
    out = {"http": (ports["http"], "TCP"), INTERNAL_PORT_NAME: (ports[INTERNAL_PORT_NAME], "TCP")}
    push = stream.spec.source.push
    if push and "rtmp" in push.protocols:
        out["rtmp"] = (ports["rtmp"], "TCP")
    if push and "rtmps" in push.protocols:
        out["rtmps"] = (ports.get("rtmps", RTMPS_PORT), "TCP")
    if push and "srt" in push.protocols:
        out["srt"] = (ports["srt"], "UDP")
    if webrtc_on(stream, role, settings):
        out["webrtc-udp"] = (ports.get("webrtc-udp", POD_NETWORK_PORTS["webrtc-udp"]), "UDP")
        if stream.spec.ingest.webrtc.ice_tcp:
            out["webrtc-tcp"] = (ports.get("webrtc-tcp", POD_NETWORK_PORTS["webrtc-tcp"]), "TCP")
    return out


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
            _path_prefix(playback_path(stream, settings)),
            primary_url=ingest_internal_url(stream, settings.worker_address, primary_ports)
            if role == "backup"
            else None,
            advertise=advertise,
            whep=whep_on(stream, settings),
            signed=signed,
            trusted_proxies=settings.trusted_proxy_cidrs,
            publish_over_http=settings.publish_over_http,
            viewer_window=settings.viewer_window_seconds,
        ),
        # Ready while it accepts publishers (or pulls), not only while live: the Service must route
        # encoders to it before media flows. `live` comes from the worker's /status.
        ports=_ports(stream, role, settings, host_ports),
        resources=_resources(stream, settings),
        volumes=volumes,
        mounts=mounts,
        env=[POD_IP_ENV] if webrtc_on(stream, role, settings) else [],
        credential_secret=credential_secret_name(stream.metadata.name),
    )
    affinity = backup_anti_affinity(stream) if role == "backup" else None
    sidecar = overlay_sidecar(stream, settings)
    return worker_pod(
        _metadata(stream, names.pod, names.component),
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


def ingest_service_options(stream: LiveStream, settings: OperatorSettings) -> IngestService:
    """The stream's spec.ingest.service over the operator's defaults."""
    own = stream.spec.ingest.service
    type_ = own.type or settings.ingest_service_type
    external = type_ in ("NodePort", "LoadBalancer")
    return IngestService.model_construct(
        type=type_,
        annotations={**settings.ingest_service_annotations, **own.annotations},
        load_balancer_class=(own.load_balancer_class or settings.ingest_load_balancer_class or None)
        if type_ == "LoadBalancer"
        else None,
        external_traffic_policy=(own.external_traffic_policy or settings.ingest_external_traffic_policy or "Cluster")
        if external
        else None,
        node_ports=own.node_ports if external else None,
        # 443 where the Service's own port is what encoders use: a load balancer's address.
        rtmps_port=own.rtmps_port or (RTMPS_LOAD_BALANCER_PORT if type_ == "LoadBalancer" else None),
    )


def ingest_service(
    stream: LiveStream,
    role: Role,
    settings: OperatorSettings,
    host_ports: IngestPortMap | None = None,
    playback_route_kind: str | None = None,
    edge_owner: bool = False,
) -> Manifest:
    """RTMP (TCP), SRT (UDP) and HTTP in one Service of the type the stream (or the operator) asks
    for. With host networking the allocation is recorded here: the Service outlives the Pods.
    `playback_route_kind` (Ingress, HTTPRoute) records which route the stream has, so that a
    removed one is found without reading every kind at every reconcile; `edge_owner` likewise
    records that the stream is an owner of the namespace's edge."""
    names = ingest_names(stream.metadata.name, role)
    options = ingest_service_options(stream, settings)
    # Fixed nodePorts go to the primary: two Services cannot hold the same one.
    fixed = options.node_ports.model_dump(exclude_none=True) if options.node_ports and role == "primary" else {}
    fixed = {name.replace("_", "-"): port for name, port in fixed.items()}  # webrtc_udp -> port webrtc-udp
    ports: list[Manifest] = []
    for name, (port, protocol) in _ports(stream, role, settings, host_ports).items():
        if name == INTERNAL_PORT_NAME:
            continue  # the internal Service's only
        entry: Manifest = {"name": name, "port": port, "targetPort": name, "protocol": protocol}
        if name == "rtmps" and options.rtmps_port is not None:
            entry["port"] = options.rtmps_port  # the worker listens on its own (unprivileged) port
        if name in fixed:
            entry["nodePort"] = fixed[name]
        ports.append(entry)
    labels = child_labels(stream.metadata.name, names.component)
    selector = {k: labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/component")}
    metadata = _metadata(stream, names.service, names.component)
    annotations = {**options.annotations, **metadata["annotations"]}
    if host_ports is not None:
        annotations[HOST_PORTS_ANNOTATION] = json.dumps(host_ports, sort_keys=True)
    if playback_route_kind and role == "primary":
        annotations[PLAYBACK_ROUTE_ANNOTATION] = playback_route_kind
    if edge_owner and role == "primary":
        annotations[EDGE_OWNER_ANNOTATION] = "true"
    metadata["annotations"] = _with_managed_list(annotations)
    spec: Manifest = {"type": options.type, "selector": selector, "ports": ports}
    if options.load_balancer_class:
        spec["loadBalancerClass"] = options.load_balancer_class
    if options.external_traffic_policy:
        spec["externalTrafficPolicy"] = options.external_traffic_policy
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def ingest_internal_service(stream: LiveStream, role: Role, host_ports: IngestPortMap | None = None) -> Manifest:
    """The internal face of a role's ingest, for the operator and the stream's own workers: always
    ClusterIP, whatever type the stream's Service is, so that no NodePort or load balancer ever
    carries the feeds, status, metrics, the overlay switch or the backup uplink."""
    names = ingest_names(stream.metadata.name, role)
    port = (host_ports or POD_NETWORK_PORTS)[INTERNAL_PORT_NAME]
    labels = child_labels(stream.metadata.name, names.component)
    selector = {k: labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/component")}
    metadata = _metadata(stream, names.internal_service, names.component)
    entry = {"name": INTERNAL_PORT_NAME, "port": port, "targetPort": INTERNAL_PORT_NAME, "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [entry]},
    }


def _with_managed_list(annotations: dict[str, str]) -> dict[str, str]:
    """Annotations plus the list of their keys, so that a key dropped from the spec is removed
    from the object later (and the operator's index keeps what it manages)."""
    keys = sorted(k for k in annotations if k != MANAGED_ANNOTATIONS_ANNOTATION)
    return {**annotations, MANAGED_ANNOTATIONS_ANNOTATION: json.dumps(keys)}


# --- playback routes (Ingress, HTTPRoute) -----------------------------------------------------------

RouteKind = Literal["Ingress", "HTTPRoute"]


def playback_path(stream: LiveStream, settings: OperatorSettings) -> str:
    """The path prefix players use through a route: the stream's own, else /streams/<ns>/<name>."""
    route = stream.spec.playback
    own = (route.ingress.path if route.ingress else None) or (route.http_route.path if route.http_route else None)
    return own or f"/streams/{stream.metadata.namespace}/{stream.metadata.name}"


def _path_prefix(path: str) -> str:
    return "" if path == "/" else path


@dataclass(frozen=True)
class PlaybackRoute:
    """A stream's Ingress or HTTPRoute with the operator's defaults filled in."""

    kind: RouteKind
    path: str
    host: str = ""  # the host status URLs are built with ("" : none known)
    https: bool = False
    class_name: str = ""
    tls_secret_name: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    hostnames: tuple[str, ...] = ()
    parent_refs: tuple[tuple[tuple[str, str], ...], ...] = ()  # each a sorted tuple of (field, value)
    edge: bool = False  # to the namespace's edge (its Service streamops-edge), not the primary ingest

    def backend(self, stream_name: str, http_port: int) -> tuple[str, int]:
        """The Service (and port) the route sends viewers to."""
        if self.edge:
            return EDGE_NAME, EDGE_HTTP_PORT
        return ingest_names(stream_name, "primary").service, http_port


def playback_route(stream: LiveStream, settings: OperatorSettings) -> PlaybackRoute | None:
    """None: the stream has no route (neither its spec nor the operator's defaults ask for one)."""
    own = stream.spec.playback
    path = playback_path(stream, settings)
    ingress = (
        own.ingress if own.ingress is not None else (PlaybackIngress() if settings.playback_ingress_enabled else None)
    )
    if ingress is not None and ingress.enabled and not (own.http_route and own.http_route.enabled):
        host = ingress.host or settings.playback_ingress_host
        tls = ingress.tls_secret_name or settings.playback_ingress_tls_secret_name
        return PlaybackRoute(
            kind="Ingress",
            edge=edge_on(stream, settings),
            path=path,
            host=host,
            https=bool(tls and host),
            class_name=ingress.class_name or settings.playback_ingress_class_name,
            tls_secret_name=tls if host else "",
            annotations={**settings.playback_ingress_annotations, **ingress.annotations},
        )
    route = own.http_route
    if route is None and settings.playback_http_route_enabled:
        route = PlaybackHttpRoute()
    if route is not None and route.enabled:
        hostnames = tuple(route.hostnames or settings.playback_http_route_hostnames)
        parents = (
            [p.wire() for p in route.parent_refs] if route.parent_refs else settings.playback_http_route_parent_refs
        )
        return PlaybackRoute(
            kind="HTTPRoute",
            edge=edge_on(stream, settings),
            path=path,
            host=hostnames[0].removeprefix("*.") if hostnames and not hostnames[0].startswith("*") else "",
            https=route.https if route.https is not None else settings.playback_http_route_https,
            hostnames=hostnames,
            parent_refs=tuple(tuple(sorted(p.items())) for p in parents),
        )
    return None


def playback_route_name(stream_name: str) -> str:
    return child_name(stream_name, "playback")


def _route_metadata(stream: LiveStream, annotations: dict[str, str]) -> Manifest:
    metadata = _metadata(stream, playback_route_name(stream.metadata.name), "playback")
    metadata["annotations"] = _with_managed_list({**annotations, **metadata["annotations"]})
    return metadata


def _with_spec_hash(manifest: Manifest) -> Manifest:
    """Routes carry the hash of what was asked: the server fills in defaults, so comparing specs
    would always see a difference."""
    manifest["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(
        {"spec": manifest["spec"], "annotations": manifest["metadata"]["annotations"]}
    )
    return manifest


def playback_ingress(stream: LiveStream, route: PlaybackRoute) -> Manifest:
    """pathType Prefix on the stream's path, to the primary ingest Service's http port (or the
    edge's): both serve under that path, so no controller-specific rewrite is needed."""
    service, _ = route.backend(stream.metadata.name, 0)
    rule: Manifest = {
        "http": {
            "paths": [
                {
                    "path": route.path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": service, "port": {"name": "http"}}},
                }
            ]
        }
    }
    if route.host:
        rule = {"host": route.host, **rule}
    spec: Manifest = {"rules": [rule]}
    if route.class_name:
        spec["ingressClassName"] = route.class_name
    if route.tls_secret_name and route.host:
        spec["tls"] = [{"hosts": [route.host], "secretName": route.tls_secret_name}]
    return _with_spec_hash(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _route_metadata(stream, route.annotations),
            "spec": spec,
        }
    )


def playback_http_route(stream: LiveStream, route: PlaybackRoute, http_port: int) -> Manifest:
    """A PathPrefix match on the stream's path to the primary ingest Service (`http_port` is its
    http port: backendRefs name a port by number), or to the edge's."""
    service, port = route.backend(stream.metadata.name, http_port)
    spec: Manifest = {
        "parentRefs": [dict(p) for p in route.parent_refs],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": route.path}}],
                "backendRefs": [{"name": service, "port": port}],
            }
        ],
    }
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    return _with_spec_hash(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": _route_metadata(stream, route.annotations),
            "spec": spec,
        }
    )


def ingest_endpoints(
    stream: LiveStream,
    reaches: dict[Role, Reach],
    playback: PlaybackBase | None = None,
    publish_over_http: bool = False,
) -> IngestEndpoints | None:
    """OBS-style: server URL (the key goes in the encoder's key field) and the key's Secret name;
    `reaches`: where each role's ingest is reached from (exposure.py), the primary's said; `playback`:
    where the primary's HTTP face is reached (WHIP's signalling goes there, like WHEP's)."""
    push = stream.spec.source.push
    if push is None:
        return None
    urls: dict[str, str] = {}
    prefixes: tuple[tuple[Role, str], ...] = (("primary", ""), ("backup", "backup_"))
    for role, prefix in prefixes:
        reach = reaches.get(role)
        if role not in ingest_roles(stream) or reach is None:
            continue
        if "rtmp" in push.protocols and "rtmp" in reach.ports:
            urls[f"{prefix}push_url"] = f"rtmp://{reach.url_host}:{reach.ports['rtmp']}/live"
        if "rtmps" in push.protocols and "rtmps" in reach.ports:
            urls[f"{prefix}push_url_rtmps"] = f"rtmps://{reach.url_host}:{reach.ports['rtmps']}/live"
        if "srt" in push.protocols and "srt" in reach.ports:
            urls[f"{prefix}push_url_srt"] = f"srt://{reach.url_host}:{reach.ports['srt']}"
    # WHIP's bearer is the stream key: its URL is given only where the ingest takes it (HTTPS, or plain
    # HTTP when the admin allows it: publish_over_http).
    if playback is not None and whip_on(stream, "primary") and (playback.url.startswith("https:") or publish_over_http):
        urls["push_url_whip"] = f"{playback.url}{WHIP_PATH}"
    key_ref = stream_key_ref(stream)
    primary = reaches.get("primary")
    return IngestEndpoints(
        stream_key_secret=key_ref.name if key_ref else None,
        exposure=primary.exposure if primary else None,
        reachable_from=primary.reachable_from if primary else None,
        **urls,
    )


def reach_inputs(
    stream: LiveStream, role: Role, settings: OperatorSettings, host_ports: IngestPortMap | None, pod_host_ip: str = ""
) -> ReachInputs:
    """What decides where a role's ingest is reached, besides its Service (exposure.ingest_reach)."""
    rtmps_port = ingest_service_options(stream, settings).rtmps_port
    return ReachInputs(
        in_cluster_host=in_cluster_host(stream, role),
        default_ports={**POD_NETWORK_PORTS, "rtmps": rtmps_port} if rtmps_port else POD_NETWORK_PORTS,
        worker_address=settings.worker_address,
        external_host=settings.external_host,
        host_network=host_ports is not None,
        host_ports=host_ports,
        pod_host_ip=pod_host_ip,
    )


def playback_base(route: PlaybackRoute | None, primary: Reach) -> PlaybackBase:
    """Through the route when it has a host name; else the primary ingest's http port where it is
    reached (a route without a host: its controller's address is not the operator's to know)."""
    if route is not None and route.host:
        scheme = "https" if route.https else "http"
        return PlaybackBase(
            f"{scheme}://{route.host}{_path_prefix(route.path)}",
            route.kind,
            f"anywhere that reaches {route.host} (the {route.kind})",
        )
    note = f"the {route.kind} has no host name, use its address with path {route.path}; " if route else ""
    return PlaybackBase(
        f"http://{primary.url_host}:{primary.ports.get('http', POD_NETWORK_PORTS['http'])}",
        primary.exposure,
        note + primary.reachable_from,
    )


def playback_urls(stream: LiveStream, base: PlaybackBase, whep: bool = False) -> Playback:
    """`whep`: WebRTC playback on (whep_on)."""
    hls = stream.spec.hls
    return Playback(
        hls_cmaf_url=f"{base.url}{HLS_CMAF_PLAYLIST}" if hls.cmaf else None,
        hls_mpegts_url=f"{base.url}{HLS_MPEGTS_PLAYLIST}" if hls.mpegts else None,
        screenshot_url=f"{base.url}{SCREENSHOT_PATH}" if stream.spec.screenshots.enabled else None,
        dash_url=f"{base.url}{DASH_MANIFEST}" if stream.spec.dash else None,
        player_url=f"{base.url}{PLAYER_PAGE}",
        whep_url=f"{base.url}{WHEP_PATH}" if whep else None,
        exposure=base.exposure,
        reachable_from=base.reachable_from,
    )


def auto_recording_name(stream_name: str) -> str:
    return f"{stream_name}-auto"[:253]


def auto_recording(stream: LiveStream) -> Manifest:
    """The Recording `recording.auto` keeps for a stream: owned by the stream, settings from it."""
    assert stream.metadata.uid
    return {
        "apiVersion": API_VERSION,
        "kind": "Recording",
        "metadata": {
            "name": auto_recording_name(stream.metadata.name),
            "namespace": stream.metadata.namespace,
            "labels": child_labels(stream.metadata.name, "auto-recording"),
            "ownerReferences": [owner_reference("LiveStream", stream.metadata.name, stream.metadata.uid)],
        },
        "spec": {"streamRef": {"name": stream.metadata.name}},
    }
