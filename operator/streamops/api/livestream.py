"""LiveStream: one live stream — push or pull ingest, HLS with DVR, optional transcoding."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from streamops.api.common import (
    KEYS_SECRET,
    NAME_MAX,
    NO_USERINFO_RULE,
    URL_MAX,
    ClientFields,
    Condition,
    ConditionedStatus,
    KubeModel,
    LocalObjectRef,
    OverlayState,
    Resources,
    cel,
    check_dot_segments,
    check_uri,
    conditions_field,
    dot_segments_rule,
    scheme_rule,
    validations,
)

# What the ingest's contract carries is defined there, without this module's models (a worker builds
# none of them: docs/design/lean-workers.md); named here as before.
from streamops.api.livestream_media import (
    BACKUP_WITHOUT_WHIP as BACKUP_WITHOUT_WHIP,
)
from streamops.api.livestream_media import (
    CREDENTIALS_NEED_RTSP as CREDENTIALS_NEED_RTSP,
)
from streamops.api.livestream_media import (
    DASH_LOW_LATENCY_NEEDS_DASH as DASH_LOW_LATENCY_NEEDS_DASH,
)
from streamops.api.livestream_media import (
    DEFAULT_PART_MILLISECONDS as DEFAULT_PART_MILLISECONDS,
)
from streamops.api.livestream_media import (
    DVR as DVR,
)
from streamops.api.livestream_media import (
    DVR_HOLDS_THREE_SEGMENTS as DVR_HOLDS_THREE_SEGMENTS,
)
from streamops.api.livestream_media import (
    ENCRYPTION_WITHOUT_DASH as ENCRYPTION_WITHOUT_DASH,
)
from streamops.api.livestream_media import (
    HLS as HLS,
)
from streamops.api.livestream_media import (
    HLS_NEEDS_A_FORMAT as HLS_NEEDS_A_FORMAT,
)
from streamops.api.livestream_media import (
    LADDER_OR_SET as LADDER_OR_SET,
)
from streamops.api.livestream_media import (
    LOW_LATENCY_NEEDS_CMAF as LOW_LATENCY_NEEDS_CMAF,
)
from streamops.api.livestream_media import (
    PART_BELOW_SEGMENT as PART_BELOW_SEGMENT,
)
from streamops.api.livestream_media import (
    PULL_TLS_NEEDS_TLS_URL as PULL_TLS_NEEDS_TLS_URL,
)
from streamops.api.livestream_media import (
    PUSH_XOR_PULL as PUSH_XOR_PULL,
)
from streamops.api.livestream_media import (
    RENDITIONS_MAX as RENDITIONS_MAX,
)
from streamops.api.livestream_media import (
    ROTATE_SECONDS_DEFAULT as ROTATE_SECONDS_DEFAULT,
)
from streamops.api.livestream_media import (
    RTMPS_CONTAINER_PORT as RTMPS_CONTAINER_PORT,
)
from streamops.api.livestream_media import (
    RTMPS_NEEDS_TLS as RTMPS_NEEDS_TLS,
)
from streamops.api.livestream_media import (
    SAME_CREDENTIAL_KEYS as SAME_CREDENTIAL_KEYS,
)
from streamops.api.livestream_media import (
    SEGMENT_SECONDS as SEGMENT_SECONDS,
)
from streamops.api.livestream_media import (
    SESSIONS_KEPT as SESSIONS_KEPT,
)
from streamops.api.livestream_media import (
    TRANSCODED_NEEDS_RENDITIONS as TRANSCODED_NEEDS_RENDITIONS,
)
from streamops.api.livestream_media import (
    BFramesPolicy as BFramesPolicy,
)
from streamops.api.livestream_media import (
    EncryptionMethod as EncryptionMethod,
)
from streamops.api.livestream_media import (
    Failback as Failback,
)
from streamops.api.livestream_media import (
    IngestRole as IngestRole,
)
from streamops.api.livestream_media import (
    LatencyMode as LatencyMode,
)
from streamops.api.livestream_media import (
    PlaybackEncryption as PlaybackEncryption,
)
from streamops.api.livestream_media import (
    Projection as Projection,
)
from streamops.api.livestream_media import (
    PublishSession as PublishSession,
)
from streamops.api.livestream_media import (
    PublishSessionProtocol as PublishSessionProtocol,
)
from streamops.api.livestream_media import (
    PullCredentialsRef as PullCredentialsRef,
)
from streamops.api.livestream_media import (
    PullRtsp as PullRtsp,
)
from streamops.api.livestream_media import (
    PullSource as PullSource,
)
from streamops.api.livestream_media import (
    PushProtocol as PushProtocol,
)
from streamops.api.livestream_media import (
    PushSource as PushSource,
)
from streamops.api.livestream_media import (
    PushSrt as PushSrt,
)
from streamops.api.livestream_media import (
    PushTLS as PushTLS,
)
from streamops.api.livestream_media import (
    QualitySetKind as QualitySetKind,
)
from streamops.api.livestream_media import (
    QualitySetRef as QualitySetRef,
)
from streamops.api.livestream_media import (
    RecordType as RecordType,
)
from streamops.api.livestream_media import (
    Rendition as Rendition,
)
from streamops.api.livestream_media import (
    RtspTransport as RtspTransport,
)
from streamops.api.livestream_media import (
    Screenshots as Screenshots,
)
from streamops.api.livestream_media import (
    SessionProtocol as SessionProtocol,
)
from streamops.api.livestream_media import (
    Source as Source,
)
from streamops.api.livestream_media import (
    Transcoding as Transcoding,
)
from streamops.api.recording import KEEPS_ORIGIN_CEL, KeepOrigin, RecordingStorage, keeps_origin

STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED = (
    "recording.keepOrigin needs recording.type transcoded: an origin recording's video is the original already"
)


class RecordingDefaults(KubeModel):
    """Recording settings of the stream; Recordings inherit what they leave unset."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                f"!({KEEPS_ORIGIN_CEL}) || (has(self.type) && self.type == 'transcoded')",
                STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED,
            )
        )
    )

    auto: bool = Field(
        default=False,
        description="Record every live session without creating a Recording: the operator keeps a Recording "
        "<stream>-auto owned by the stream. Switching it off stops that Recording (its videos are kept). "
        "Default false.",
    )
    standby: bool = Field(
        default=False,
        description="Keep a warm recorder running beside the active stream, so that a Recording (using the "
        "default recordings claim) starts writing within a second instead of after a Pod start. Costs one idle "
        "recorder process per stream; none is kept beside a Recording's recorder (the next starts when it ends). "
        "Default false.",
    )
    type: RecordType = Field(
        default="origin",
        description="What Recordings record by default: origin (the source as received) or transcoded (the "
        "tallest rendition; needs transcoding.renditions). Default origin.",
    )
    reconnect_window_seconds: int = Field(
        default=10,
        ge=0,
        le=3600,
        description="A source gap shorter than this (seconds) continues the same video; a longer one closes "
        "it and a resumed source starts a new one. 0..3600, default 10.",
    )
    max_segment_seconds: int = Field(
        default=14400,
        ge=10,
        le=86400,
        description="Broadcasts longer than this (seconds) are cut into several videos. 10..86400, "
        "default 14400 (4 h).",
    )
    min_duration_seconds: int = Field(
        default=10,
        ge=0,
        le=3600,
        description="A video shorter than this (seconds) is discarded with a Warning event instead of kept. "
        "0..3600, default 10.",
    )
    storage: RecordingStorage | None = Field(
        default=None,
        description="Where Recordings of this stream that name no storage write their videos (pvc or s3). "
        "Default: the chart's recordings storage (worker.recordings.s3 when set), else the namespace's shared "
        "streamops-recordings claim.",
    )
    quota_bytes: int | None = Field(
        default=None,
        ge=1,
        description="Byte limit of this stream's recorded videos (all its Recordings' and its Clips'). At 80 % its "
        "Recordings warn (condition StorageAlmostFull); at 100 % a new Recording or Clip is refused (NoSpace, 'no "
        "space for recording the stream') and a running Recording is finalised. Default: only the namespace's "
        "limit (chart worker.recordings.quotaBytes).",
    )
    keep_origin: KeepOrigin | None = Field(
        default=None,
        description="Default of the Recordings' keepOrigin: the untouched original kept beside each transcoded "
        "video for deleteAfterDays (default 7), then deleted (the hosted origin_url). Needs type transcoded. "
        "Default: not kept.",
    )

    @model_validator(mode="after")
    def _keep_origin_transcoded(self) -> RecordingDefaults:
        if keeps_origin(self.keep_origin) and self.type != "transcoded":
            raise ValueError(STREAM_KEEP_ORIGIN_NEEDS_TRANSCODED)
        return self


OVERLAYS_NEED_RENDITIONS = (
    "overlays need at least one transcoding rendition (transcoding.renditions or transcoding.qualitySetRef): they "
    "are composited into the renditions, never into the passthrough"
)
BOX_WITHIN_WIDTH = "left + width must be at most 100 (the box inside the frame)"
BOX_WITHIN_HEIGHT = "top + height must be at most 100 (the box inside the frame)"
OVERLAY_HOST_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class Overlay(KubeModel):
    """An HTML page drawn over the transcoded renditions (OBS's browser source): a live scoreboard, a
    lower third, a logo. Rendered by a headless browser beside the ingest with a transparent
    background, composited into every rendition and the transcoded feed (so `recording.type:
    transcoded` recordings and transcoded restreams carry it), never into the passthrough."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.left + self.width <= 100.0", BOX_WITHIN_WIDTH),
            cel("self.top + self.height <= 100.0", BOX_WITHIN_HEIGHT),
        )
    )

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Unique name of the overlay (a DNS label), as status.overlays reports it.",
    )
    url: str = Field(
        max_length=URL_MAX,
        description="The page (http:// or https://), loaded once and kept open: it changes itself (JavaScript "
        "polling its data, a websocket). No credentials in the URL. The page's own host is always allowed.",
        json_schema_extra=validations(scheme_rule(("http", "https"), "url"), NO_USERINFO_RULE),
    )
    # left/top, not x/y: YAML 1.1 parsers (kubectl's, the API server's) read a plain `y` key as true.
    left: float = Field(default=0, ge=0, le=100, description="Left edge of the box, percent of the frame width.")
    top: float = Field(default=0, ge=0, le=100, description="Top edge of the box, percent of the frame height.")
    width: float = Field(ge=1, le=100, description="Width of the box, percent of the frame width (1..100).")
    height: float = Field(ge=1, le=100, description="Height of the box, percent of the frame height (1..100).")
    z_index: int = Field(
        default=0, ge=-1000, le=1000, description="Stacking order: higher on top; equal ones in list order."
    )
    enabled: bool = Field(
        default=True,
        description="Draw it. Switched live, within a couple of seconds and without restarting the ingest (the page "
        "is opened or closed; the stream stays on air). Changing anything else of an overlay, or adding or removing "
        "one, restarts the ingest (a gap of seconds).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Other hosts the page may load from (its API, fonts, images), e.g. api.example.com or "
        "*.example.com; nothing else is reachable, neither the cluster's addresses unless named here.",
        json_schema_extra={"items": {"type": "string", "maxLength": 253, "pattern": OVERLAY_HOST_PATTERN}},
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_uri(url, ("http", "https"), "url")

    @model_validator(mode="after")
    def _box_inside(self) -> Overlay:
        if self.left + self.width > 100:
            raise ValueError(BOX_WITHIN_WIDTH)
        if self.top + self.height > 100:
            raise ValueError(BOX_WITHIN_HEIGHT)
        return self


class OverlayStatus(KubeModel):
    """One overlay as the renderer last saw it."""

    name: str = Field(max_length=63, description="The overlay's name in spec.overlays.")
    state: OverlayState = Field(
        description="rendering: drawn into the renditions; failing: its page cannot be shown (the stream goes on "
        "without it, the page is loaded again after a backoff); disabled: enabled is false."
    )
    message: str | None = Field(default=None, max_length=1024, description="Why it fails.")


ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer"]
TrafficPolicy = Literal["Cluster", "Local"]
IngestExposure = Literal["LoadBalancer", "NodePort", "ClusterIP", "HostNetwork"]
PlaybackExposure = Literal["Ingress", "HTTPRoute", "LoadBalancer", "NodePort", "ClusterIP", "HostNetwork"]
# Annotations: the API server checks the keys; bounded here so CEL cost estimates stay small.
ANNOTATIONS_SCHEMA: dict[str, JsonValue] = {
    "maxProperties": 64,
    "additionalProperties": {"type": "string", "maxLength": 4096},
}
# A URL path prefix an Ingress or HTTPRoute routes with pathType Prefix: "/" or segments without
# a trailing slash (the ingest serves its HLS, screenshot and player under it).
ROUTE_PATH_PATTERN = r"^(/|(/[A-Za-z0-9._~-]+)+)$"
HOSTNAME_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A route path has no dot segments either: an Ingress refuses them, and clients remove them from URLs.
ROUTE_PATH_DOTS = (".", "..")
ROUTE_PATH_RULES = validations(dot_segments_rule("path", ROUTE_PATH_DOTS))


def _route_path(path: str | None) -> str | None:
    return check_dot_segments(path, "path", ROUTE_PATH_DOTS) if path is not None else None


def _node_port(what: str) -> Any:
    return Field(
        default=None,
        ge=1,
        le=65535,
        description=f"Fixed nodePort of the {what} port; unset: the API server allocates one (status.ingest shows "
        "it). Must lie in the cluster's NodePort range (30000-32767 unless the API server was told otherwise).",
    )


class IngestNodePorts(KubeModel):
    """Fixed nodePorts for the ingest Service's ports (NodePort and LoadBalancer Services)."""

    rtmp: int | None = _node_port("RTMP (TCP)")
    rtmps: int | None = _node_port("RTMPS (TCP)")
    srt: int | None = _node_port("SRT (UDP)")
    http: int | None = _node_port("HTTP (HLS, screenshot, WHIP/WHEP signalling)")
    webrtc_udp: int | None = _node_port("WebRTC media (UDP: every WHIP and WHEP peer connection on one port)")
    webrtc_tcp: int | None = _node_port("WebRTC media over ICE-TCP (TCP: the fallback for networks that block UDP)")


RTMPS_LOAD_BALANCER_PORT = 443
NODE_PORTS_NEED_TYPE = "nodePorts needs type NodePort or LoadBalancer"
LOAD_BALANCER_CLASS_NEEDS_TYPE = "loadBalancerClass needs type LoadBalancer"
TRAFFIC_POLICY_NEEDS_TYPE = "externalTrafficPolicy needs type NodePort or LoadBalancer"
RTMPS_PORT_NOT_NODE_PORT = "rtmpsPort needs type LoadBalancer or ClusterIP: a NodePort URL takes nodePorts.rtmps"


class IngestService(KubeModel):
    """How the ingest Service (<stream>-ingest, RTMP and RTMPS over TCP and SRT over UDP in one Service) is exposed.
    Unset fields take the operator's defaults (chart values ingest.service.*)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.nodePorts) || (has(self.type) && self.type in ['NodePort', 'LoadBalancer'])",
                NODE_PORTS_NEED_TYPE,
            ),
            cel(
                "!has(self.loadBalancerClass) || (has(self.type) && self.type == 'LoadBalancer')",
                LOAD_BALANCER_CLASS_NEEDS_TYPE,
            ),
            cel(
                "!has(self.externalTrafficPolicy) || (has(self.type) && self.type in ['NodePort', 'LoadBalancer'])",
                TRAFFIC_POLICY_NEEDS_TYPE,
            ),
            cel("!has(self.rtmpsPort) || !has(self.type) || self.type != 'NodePort'", RTMPS_PORT_NOT_NODE_PORT),
        )
    )

    type: ServiceType | None = Field(
        default=None,
        description="ClusterIP (reachable inside the cluster only), NodePort (every node's address, URLs use the "
        "operator's externalHost) or LoadBalancer (the load balancer's address). Unset: the operator's default "
        "(chart value ingest.service.type, ClusterIP unless set).",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations of the Service (e.g. for a cloud load balancer), merged over the operator's "
        "defaults (chart value ingest.service.annotations); the stream's win.",
        json_schema_extra=ANNOTATIONS_SCHEMA,
    )
    load_balancer_class: str | None = Field(
        default=None,
        min_length=1,
        max_length=NAME_MAX,
        description="spec.loadBalancerClass of a LoadBalancer Service (which load balancer implementation serves "
        "it). Immutable once set: the API server refuses a change.",
    )
    external_traffic_policy: TrafficPolicy | None = Field(
        default=None,
        description="Cluster (any node forwards) or Local (only the ingest's node answers, the encoder's source "
        "address is kept). Unset: the operator's default, else Cluster.",
    )
    node_ports: IngestNodePorts | None = Field(
        default=None,
        description="Fixed nodePorts per port (type NodePort or LoadBalancer); unset ports are allocated by the "
        "API server.",
    )
    rtmps_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The Service port RTMPS is published on (status.ingest.pushUrlRtmps shows it). Unset: 443 for "
        "a LoadBalancer Service (the port firewalls let through, as the hosted platforms offer it), else the "
        f"ingest's own port {RTMPS_CONTAINER_PORT}. Not with type NodePort: its URL takes the nodePort "
        "(30000-32767; nodePorts.rtmps fixes it).",
    )

    @model_validator(mode="after")
    def _type_dependent(self) -> IngestService:
        if self.node_ports is not None and self.type not in ("NodePort", "LoadBalancer"):
            raise ValueError(NODE_PORTS_NEED_TYPE)
        if self.load_balancer_class is not None and self.type != "LoadBalancer":
            raise ValueError(LOAD_BALANCER_CLASS_NEEDS_TYPE)
        if self.external_traffic_policy is not None and self.type not in ("NodePort", "LoadBalancer"):
            raise ValueError(TRAFFIC_POLICY_NEEDS_TYPE)
        if self.rtmps_port is not None and self.type == "NodePort":
            raise ValueError(RTMPS_PORT_NOT_NODE_PORT)
        return self


ADDRESS_PATTERN = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$"
ICE_TCP_NODE_PORT = "nodePorts.webrtcTcp needs ingest.webrtc.iceTcp: ICE-TCP is off"


class IngestWebRtc(KubeModel):
    """How WebRTC peers (WHIP publishers, WHEP viewers) reach the ingest's media ports: one UDP port for every
    peer connection (ICE multiplexing) and one ICE-TCP port, on the ingest Service beside RTMP and SRT."""

    advertise_addresses: list[str] = Field(
        default_factory=list,
        max_length=4,
        description="IPv4 addresses (or DNS names, resolved by the ingest at start) that ICE candidates announce "
        "instead of the one the exposure gives: by default the LoadBalancer's address, the operator's externalHost "
        "with the Service's nodePorts, the node's address with host networking, the Pod's own address with "
        "ClusterIP. Set it when peers reach the nodes through an address the operator does not know (a NAT).",
        json_schema_extra={"items": {"type": "string", "maxLength": NAME_MAX, "pattern": ADDRESS_PATTERN}},
    )
    ice_tcp: bool = Field(
        default=True,
        description="Offer ICE-TCP candidates too (port webrtc-tcp): peers behind networks that block UDP connect "
        "over TCP. Default true.",
    )

    @field_validator("advertise_addresses")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if len(address) > NAME_MAX or not re.match(ADDRESS_PATTERN, address):
                raise ValueError(f"advertiseAddresses: {address!r} is neither an IPv4 address nor a DNS name")
        return addresses


class IngestSpec(KubeModel):
    """How encoders outside the cluster reach the ingest."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.service) || !has(self.service.nodePorts) || !has(self.service.nodePorts.webrtcTcp) || "
                "!has(self.webrtc) || !has(self.webrtc.iceTcp) || self.webrtc.iceTcp",
                ICE_TCP_NODE_PORT,
            )
        )
    )

    service: IngestService = Field(
        default_factory=IngestService,
        description="Type and options of the ingest Service (<stream>-ingest and <stream>-ingest-backup).",
    )
    webrtc: IngestWebRtc = Field(
        default_factory=IngestWebRtc,
        description="WebRTC's media ports (WHIP ingest, WHEP playback): the addresses announced in ICE candidates "
        "and ICE-TCP.",
    )

    @model_validator(mode="after")
    def _ice_tcp_port(self) -> IngestSpec:
        ports = self.service.node_ports
        if ports is not None and ports.webrtc_tcp is not None and not self.webrtc.ice_tcp:
            raise ValueError(ICE_TCP_NODE_PORT)
        return self


class PlaybackIngress(KubeModel):
    """An Ingress (networking.k8s.io/v1, pathType Prefix) routing viewers to the primary ingest's HLS and
    screenshot. Unset fields take the operator's defaults (chart values playback.ingress.*)."""

    enabled: bool = Field(
        default=True,
        description="false: no Ingress for this stream even when the operator's default creates one.",
    )
    class_name: str | None = Field(
        default=None, min_length=1, max_length=NAME_MAX, description="ingressClassName (unset: the cluster's default)."
    )
    host: str | None = Field(
        default=None,
        max_length=NAME_MAX,
        pattern=HOSTNAME_PATTERN,
        description="Host name viewers use (status.playback URLs are built with it); unset: any host, and "
        "status.playback keeps the in-cluster URLs.",
    )
    path: str | None = Field(
        default=None,
        max_length=512,
        pattern=ROUTE_PATH_PATTERN,
        json_schema_extra=ROUTE_PATH_RULES,
        description="Path prefix of the stream (pathType Prefix, no rewrite needed: the ingest serves under it). "
        "Default /streams/<namespace>/<name>. Changing it restarts the ingest.",
    )
    tls_secret_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=NAME_MAX,
        description="A kubernetes.io/tls Secret for host: the Ingress terminates TLS and status shows https:// URLs.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations of the Ingress, merged over the operator's defaults; the stream's win.",
        json_schema_extra=ANNOTATIONS_SCHEMA,
    )

    _path = field_validator("path")(_route_path)


class ParentRef(KubeModel):
    """A Gateway the HTTPRoute attaches to (gateway.networking.k8s.io/v1 parentRefs)."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the Gateway.")
    namespace: str | None = Field(
        default=None, min_length=1, max_length=63, description="Namespace of the Gateway; unset: the stream's."
    )
    section_name: str | None = Field(
        default=None, min_length=1, max_length=253, description="Listener of the Gateway to attach to."
    )


class PlaybackHttpRoute(KubeModel):
    """A Gateway API HTTPRoute (gateway.networking.k8s.io/v1, PathPrefix match) routing viewers to the primary
    ingest. Unset fields take the operator's defaults (chart values playback.httpRoute.*)."""

    enabled: bool = Field(
        default=True,
        description="false: no HTTPRoute for this stream even when the operator's default creates one.",
    )
    parent_refs: list[ParentRef] = Field(
        default_factory=list,
        max_length=8,
        description="Gateways to attach to; empty: the operator's default.",
    )
    hostnames: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Host names of the route; the first one builds status.playback's URLs. Empty: the operator's "
        "default; none at all: status.playback keeps the in-cluster URLs.",
        json_schema_extra={"items": {"type": "string", "maxLength": NAME_MAX, "pattern": HOSTNAME_PATTERN}},
    )
    path: str | None = Field(
        default=None,
        max_length=512,
        pattern=ROUTE_PATH_PATTERN,
        json_schema_extra=ROUTE_PATH_RULES,
        description="Path prefix of the stream (no rewrite needed: the ingest serves under it). Default "
        "/streams/<namespace>/<name>. Changing it restarts the ingest.",
    )
    https: bool | None = Field(
        default=None,
        description="The Gateway's listener terminates TLS: status.playback shows https:// URLs. Unset: the "
        "operator's default, else false.",
    )

    _path = field_validator("path")(_route_path)

    @field_validator("hostnames")
    @classmethod
    def _hostnames(cls, hostnames: list[str]) -> list[str]:
        for name in hostnames:
            if len(name) > NAME_MAX or not re.match(HOSTNAME_PATTERN, name):
                raise ValueError(f"hostname {name!r} is not a DNS name")
        return hostnames


ICE_SERVERS_KEY = "iceServers"


class IceServersSecretRef(KubeModel):
    """A key of a Secret of the stream's namespace holding the STUN/TURN servers WebRTC clients get."""

    name: str = Field(min_length=1, max_length=NAME_MAX, description="Name of the Secret (same namespace).")
    key: str = Field(
        default=ICE_SERVERS_KEY,
        min_length=1,
        max_length=NAME_MAX,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description=f"Key inside the Secret. Default {ICE_SERVERS_KEY}.",
    )


class PlaybackWebRtc(KubeModel):
    """WebRTC playback (WHEP, status.playback.whepUrl): sub-second, every viewer from one copy of the stream
    (no encode per viewer)."""

    enabled: bool | None = Field(
        default=None,
        description="Serve WHEP viewers, whatever the source (RTMP, RTMPS, SRT, WHIP, pull); the player page then "
        "plays WebRTC first and falls back to LL-HLS/HLS. Unset: the operator's default (chart value "
        "playback.webrtc.enabled, true unless set).",
    )
    b_frames: BFramesPolicy = Field(
        default="transcode",
        description="WebRTC players take no B-frames (OBS's default x264 profile has them). transcode (default): a "
        "source with B-frames is encoded once more for WebRTC (x264 without B-frames, about a third of a core at "
        "720p30); refuse: no WebRTC playback for such a source, condition WebRtcPlayable says why. Sources "
        "without B-frames (WHIP, x264 tune zerolatency) are passed through either way.",
    )
    ice_servers_secret_ref: IceServersSecretRef | None = Field(
        default=None,
        description="A Secret key holding the STUN/TURN servers that WebRTC clients (WHEP viewers, WHIP publishers) "
        'use, as RTCIceServer JSON: [{"urls": ["turn:turn.example.com:3478?transport=udp", '
        '"turns:turn.example.com:5349"], "username": "...", "credential": "..."}]. For clients behind networks that '
        "block UDP and TCP to the nodes. The ingest gives them to the player and publish pages and in Link "
        "rel=ice-server headers of its WHIP/WHEP answers (RFC 9725): anyone who can load the player page can read "
        "these credentials (inherent to TURN in browsers), so prefer short-lived ones, rotated in the Secret. "
        "Mounted into the primary ingest: setting or changing this reference restarts it, a changed Secret is "
        "picked up without a restart (once the kubelet has synced it); a missing or invalid Secret leaves clients "
        "without these servers (a Warning Event IceServersInvalid says why).",
    )


class PlaybackSrt(KubeModel):
    """SRT for readers (docs/design/readers.md): broadcast monitors, decoders and VMS software read the live
    stream as MPEG-TS over SRT (status.playback.srtUrl)."""

    enabled: bool = Field(
        default=False,
        description="Serve SRT callers (srt://host:port?mode=caller) the live MPEG-TS as it is, through the stream's "
        "Service (port srt-read, UDP). A signed stream's caller puts its playback token in the stream id "
        "(streamid=<token>, or #!::t=<token>), or the token's public part (v1~kid~exp~ip) as stream id and its "
        "signature as passphrase (encrypted, the token never in the clear). Default false.",
    )


class PlaybackTLS(KubeModel):
    """The certificate the RTSPS listener presents."""

    secret_name: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="A kubernetes.io/tls Secret of the stream's namespace (keys tls.crt and tls.key), mounted into "
        "the primary ingest; a renewed certificate is picked up for new connections without a restart.",
    )


class PlaybackRtsp(KubeModel):
    """RTSP for readers (docs/design/readers.md): cameras' viewers, VMS software and decoders read H.264/H.265
    and AAC over RTSP (status.playback.rtspUrl)."""

    enabled: bool = Field(
        default=False,
        description="Serve RTSP clients (RTP over the RTSP connection, TCP) through the stream's Service (port rtsp, "
        "or rtsps with tls). A signed stream's client presents its playback token as ?token=<token>, as the "
        "Basic password, or by Digest with the token's public part (v1~kid~exp~ip) as user name and its "
        "signature as password. Default false.",
    )
    tls: PlaybackTLS | None = Field(
        default=None,
        description="Serve RTSPS (RTSP over TLS) with this certificate instead of plain RTSP (rtspUrl is then "
        "rtsps://).",
    )


PlaybackAccess = Literal["public", "signed"]
ONE_ROUTE = "set at most one of playback.ingress and playback.httpRoute"
PROJECTION_DESCRIPTION = (
    "How the player page (status.playback.playerUrl) shows the picture; only the page: HLS, DASH, WebRTC, "
    "recordings and restreams carry the frames as they are (tell another player yourself). regular (default): "
    "flat, as received. vr360: the frame is an equirectangular 360° panorama (2:1, the whole sphere); the page "
    "renders it around the viewer, who looks around by dragging (mouse, touch), with the arrow keys, or by "
    "turning the device (its orientation sensor, on HTTPS pages). vr180: the frame is the front hemisphere "
    "(equirectangular, 180° x 180°, mono); behind the viewer is black. vr360tb: 3D 360° top-bottom: the top half "
    "(left eye) and the bottom half (right eye) are each an equirectangular 360°; the page shows the top half in "
    "mono. Applied to a running ingest without a restart (pages opened before keep what they loaded; "
    "status.playback.projection says what the page renders now)."
)


class PlaybackEdge(KubeModel):
    """The edge tier (docs/design/playback.md): a Deployment of caching proxies per namespace, scaled by a
    HorizontalPodAutoscaler, that serves the stream's viewers so the ingest serves the edge only."""

    enabled: bool | None = Field(
        default=None,
        description="Route the stream's Ingress or HTTPRoute to the namespace's edge (streamops-edge) instead of the "
        "ingest: N viewers waiting for the same LL-HLS part cause one request to the ingest. Status URLs keep "
        "their shape. Unset: the operator's default (chart value edge.enabled). Only with a playback Ingress or "
        "HTTPRoute: viewers on the ingest's own address are served by the ingest.",
    )


CDN_HOST_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|"
    r"6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?$"
)


class PlaybackCdn(KubeModel):
    """A CDN in front of the stream's playback (the hosted stream's cdn_id): status.playback's cacheable URLs name
    its host (docs/design/cdn.md)."""

    host: str = Field(
        min_length=1,
        max_length=NAME_MAX,
        pattern=CDN_HOST_PATTERN,
        description="Host name viewers reach the CDN at, optionally with :port (e.g. cdn.example.com or "
        "video.example.com:8443); a lower-case DNS name, no scheme, path or wildcard. The CDN's origin is where "
        "status.playback's URLs point without it (the Ingress or HTTPRoute host, else the ingest's address), "
        "with the same path: status.playback.hlsCmafUrl, hlsMpegtsUrl, dashUrl, screenshotUrl and playerUrl use "
        "it; whepUrl keeps the origin (WebRTC signalling is per viewer, never cached). Every playback answer "
        "says how long a shared cache may keep it (Cache-Control, Surrogate-Control); a signed stream's are "
        "all private, so the CDN passes each request, token and all, to the edge or ingest that checks it.",
    )
    https: bool = Field(default=True, description="The CDN serves viewers over HTTPS (https:// URLs). Default true.")


class PlaybackSpec(KubeModel):
    """How viewers outside the cluster reach the stream's HLS and screenshot, and how its player page shows
    the picture (projection)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.ingress) && has(self.httpRoute)) || "
                "(has(self.ingress.enabled) && !self.ingress.enabled) || "
                "(has(self.httpRoute.enabled) && !self.httpRoute.enabled)",
                ONE_ROUTE,
            )
        )
    )

    ingress: PlaybackIngress | None = Field(
        default=None, description="An Ingress for the stream's playback (exclusive with httpRoute)."
    )
    http_route: PlaybackHttpRoute | None = Field(
        default=None, description="A Gateway API HTTPRoute for the stream's playback (exclusive with ingress)."
    )
    webrtc: PlaybackWebRtc = Field(
        default_factory=PlaybackWebRtc,
        description="WebRTC (WHEP) playback: on by default; what to do with a source that has B-frames.",
    )
    access: PlaybackAccess | None = Field(
        default=None,
        description="public: anyone with a playback URL watches. signed: every playback request (HLS and LL-HLS "
        "playlists, parts and segments, DASH, the screenshot, the player page, WHEP) needs a token that names the "
        "stream and an expiry (optionally one viewer address), signed with the namespace's key Secret "
        f"{KEYS_SECRET}; `streamops playback url` prints such URLs, and they play in any player (the token is a "
        "path segment). Checked at the edge and at the ingest: a missing token is answered 401, an expired or "
        "forged one 403. Unset: the operator's default (chart value playback.access, public unless set). Changing "
        "it restarts the stream's ingest.",
    )
    edge: PlaybackEdge = Field(
        default_factory=PlaybackEdge,
        description="Serve viewers through the namespace's edge tier (a cache in front of the ingest) instead of "
        "the ingest itself.",
    )
    projection: Projection = Field(default="regular", description=PROJECTION_DESCRIPTION)
    cdn: PlaybackCdn | None = Field(
        default=None,
        description="Delivery through a CDN (the customer's): the host its status URLs name. Unset: status.playback "
        "names the route or the ingest itself. The answers' cache headers are the same either way.",
    )
    policy_ref: LocalObjectRef | None = Field(
        default=None,
        description="A PlaybackPolicy of the stream's namespace whose rules (referrers and origins, address ranges, "
        "countries, user agents) every playback request must pass, at the edge and the ingest alike: refused with "
        "403 and the rule in X-Streamops-Refused. Its edits reach live streams within about a minute, without a "
        "restart; naming or dropping a policy restarts the stream's ingest. A policy that does not exist refuses "
        "every viewer (fails closed) and makes Ready False (PlaybackPolicyNotFound).",
    )
    srt: PlaybackSrt | None = Field(
        default=None, description="SRT for readers (callers, mode=caller): off unless enabled."
    )
    rtsp: PlaybackRtsp | None = Field(default=None, description="RTSP/RTSPS for readers: off unless enabled.")
    encryption: PlaybackEncryption | None = Field(
        default=None,
        description="Encrypt the HLS (TS, CMAF and LL-HLS parts) viewers get with AES-128, keys generated per "
        "stream, rotated every rotateSeconds and served only through the playback gate (a signed stream's key "
        "needs the viewer's token); recordings, clips and the DVR files stay clear. Off unless set; not with "
        "dash. Setting or changing it restarts the stream's ingest.",
    )

    @model_validator(mode="after")
    def _one_route(self) -> PlaybackSpec:
        if self.ingress and self.ingress.enabled and self.http_route and self.http_route.enabled:
            raise ValueError(ONE_ROUTE)
        return self


# The spec has a ladder: inline renditions or a quality set (what the set holds is the operator's to resolve).
_HAS_LADDER = (
    "(has(self.transcoding) && ((has(self.transcoding.renditions) && size(self.transcoding.renditions) > 0) || "
    "has(self.transcoding.qualitySetRef)))"
)


class LiveStreamSpec(ClientFields):
    """Desired state of the live stream: where media comes from, HLS output and DVR, transcoding,
    recording defaults and screenshots."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.recording) || !has(self.recording.type) || self.recording.type != 'transcoded' || "
                + _HAS_LADDER,
                TRANSCODED_NEEDS_RENDITIONS,
            ),
            cel(
                "!has(self.dvr) || !has(self.dvr.enabled) || !self.dvr.enabled || "
                "(has(self.dvr.durationSeconds) ? self.dvr.durationSeconds : 3600) >= "
                "3 * (has(self.hls) && has(self.hls.segmentSeconds) ? self.hls.segmentSeconds : 2)",
                DVR_HOLDS_THREE_SEGMENTS,
            ),
            cel(
                "!has(self.dashLatencyMode) || self.dashLatencyMode != 'low' || (has(self.dash) && self.dash)",
                DASH_LOW_LATENCY_NEEDS_DASH,
            ),
            cel(f"!has(self.overlays) || size(self.overlays) == 0 || {_HAS_LADDER}", OVERLAYS_NEED_RENDITIONS),
            cel(
                "!has(self.playback) || !has(self.playback.encryption) || !has(self.dash) || !self.dash",
                ENCRYPTION_WITHOUT_DASH,
            ),
        )
    )

    title: str = Field(
        default="",
        max_length=255,
        description="Human-readable name, free text up to 255 characters, not unique; recorded videos are "
        "titled after it (the object's name when empty).",
    )
    active: bool = Field(
        default=True,
        description="On/off switch (not a live indicator): false removes the ingest Pods, so pushes are refused "
        "and pulling stops; Secret, Services and recorded videos are kept. Default true.",
    )
    source: Source = Field(
        description="Where the media comes from: exactly one of push (encoders push to the stream) or pull "
        "(the stream pulls from URLs)."
    )
    dvr: DVR = Field(
        default_factory=DVR,
        description="Rewind window of the HLS playlists. Default disabled (the playlists hold only the latest "
        "segments).",
    )
    hls: HLS = Field(
        default_factory=HLS,
        description="HLS output: segment length and formats (fMP4/CMAF and MPEG-TS). URLs in status.playback.",
    )
    dash: bool = Field(
        default=False,
        description="Also serve MPEG-DASH (a live MPD with CMAF segments of hls.segmentSeconds, the DVR window "
        "included; status.playback.dashUrl). Default false. With transcoding: every rendition in one video "
        "AdaptationSet (each encoded once for HLS and DASH); without: the source as received.",
    )
    # None, not standard: a new default in the ingest's configuration would roll every live ingest.
    dash_latency_mode: LatencyMode | None = Field(
        default=None,
        description="standard (default): DASH segments are listed once complete, dash.js plays about 2.5 "
        "segments behind live. low: low-latency DASH (chunked CMAF) — each segment served while it is written, "
        "in chunks of hls.partMilliseconds (availabilityTimeOffset), a target latency (ServiceDescription) and "
        "the ingest's clock (UTCTiming); dash.js plays it about 1.2 s behind live (measured in Chromium), other "
        "players as standard DASH. Needs dash. The source's keyframes should come every hls.segmentSeconds "
        "(renditions always do).",
    )
    transcoding: Transcoding | None = Field(
        default=None,
        description="Optional x264 renditions (an adaptive-bitrate ladder), inline or a named QualitySet / "
        "ClusterQualitySet (qualitySetRef). Unset or empty: passthrough, the source is served as received.",
    )
    recording: RecordingDefaults = Field(
        default_factory=RecordingDefaults,
        description="Automatic recording, the warm recorder, and the defaults Recordings of this stream inherit.",
    )
    screenshots: Screenshots = Field(
        default_factory=Screenshots,
        description="JPEG screenshots of the live picture (status.playback.screenshotUrl). Default every 10 s.",
    )
    ingest: IngestSpec = Field(
        default_factory=IngestSpec,
        description="How encoders outside the cluster reach the ingest: the Service's type and options "
        "(status.ingest shows the URLs that work and from where).",
    )
    playback: PlaybackSpec = Field(
        default_factory=PlaybackSpec,
        description="How viewers outside the cluster reach HLS and the screenshot: an optional Ingress or "
        "HTTPRoute (status.playback shows the URLs that work and from where).",
    )
    overlays: list[Overlay] | None = Field(
        default=None,
        max_length=8,
        description="HTML overlays drawn over the transcoded renditions (needs transcoding renditions); "
        "status.overlays and condition Overlays say whether each one is drawn.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    resources: Resources | None = Field(
        default=None,
        description="CPU/memory requests and limits of the ingest Pods. Unset: sized for passthrough, or for "
        "transcoding when renditions are set.",
    )

    @model_validator(mode="after")
    def _transcoded_needs_renditions(self) -> LiveStreamSpec:
        if self.recording.type == "transcoded" and not self.has_ladder:
            raise ValueError(TRANSCODED_NEEDS_RENDITIONS)
        if self.dvr.enabled and self.dvr.duration_seconds < 3 * self.hls.segment_seconds:
            raise ValueError(DVR_HOLDS_THREE_SEGMENTS)
        if self.dash_latency_mode == "low" and not self.dash:
            raise ValueError(DASH_LOW_LATENCY_NEEDS_DASH)
        if self.overlays and not self.has_ladder:
            raise ValueError(OVERLAYS_NEED_RENDITIONS)
        if self.playback.encryption is not None and self.dash:
            raise ValueError(ENCRYPTION_WITHOUT_DASH)
        return self

    @property
    def has_ladder(self) -> bool:
        """The stream transcodes (renditions inline or a quality set): not passthrough."""
        return self.transcoding is not None and self.transcoding.has_ladder


INGEST_REGIONS_MAX = 8  # the operator's ingest.regions (control/shared/settings.py)


class RegionalIngest(KubeModel):
    """One regional ingest point: the same primary ingest, reached through one region."""

    name: str = Field(max_length=NAME_MAX, description="The region, as the operator's ingest.regions names it.")
    push_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTMP server URL through this region (used as pushUrl, same stream key). Set when rtmp is "
        "enabled and the region has an address.",
    )
    push_url_rtmps: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTMPS server URL through this region (used as pushUrlRtmps, same key and certificate: an "
        "encoder that verifies it needs the region's host name in the certificate). Set when rtmps is enabled.",
    )
    push_url_srt: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="SRT URL through this region (used as pushUrlSrt, the key as passphrase). Set when srt is enabled.",
    )
    exposure: Literal["LoadBalancer", "NodePort"] | None = Field(
        default=None,
        description="What this region's URLs go through: LoadBalancer (the region's own load balancer address "
        "and its Service's ports) or NodePort (the region's host and nodePorts). Unset while none works yet.",
    )
    reachable_from: str | None = Field(
        default=None,
        max_length=1024,
        description="Where this region's URLs work from, and why there are none yet (e.g. the region's load "
        "balancer still waiting for its address).",
    )


class IngestEndpoints(KubeModel):
    """Where encoders push: server URLs plus the name of the Secret with the key (never the key)."""

    push_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTMP server URL of the primary ingest (rtmp://<host>:<port>/live); push with the stream "
        "key as the stream name (OBS: Server = this URL, Stream Key = the key). Set when rtmp is enabled.",
    )
    push_url_rtmps: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTMPS (RTMP over TLS) server URL of the primary ingest (rtmps://<host>:<port>/live), used like "
        "pushUrl; the certificate is source.push.tls.secretName's, so encoders that verify it need its host name "
        "in the certificate. Set when rtmps is enabled.",
    )
    push_url_srt: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="SRT URL of the primary ingest (srt://<host>:<port>); push in caller mode with the stream "
        "key as the SRT passphrase. Set when srt is enabled.",
    )
    push_url_whip: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="WHIP endpoint of the primary ingest (RFC 9725): POST an SDP offer with the header "
        "Authorization: Bearer <stream key> (OBS 30+: Service WHIP, Server = this URL, Bearer Token = the key; a "
        "browser: the player's /publish page). H.264 video and Opus audio. The key is never in the URL. Set when "
        "whip is enabled; primary only (no backup WHIP).",
    )
    backup_push_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTMP server URL of the backup ingest, same key as pushUrl. Set with source.push.backup.",
    )
    backup_push_url_rtmps: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTMPS server URL of the backup ingest, same key and certificate as pushUrlRtmps. Set with "
        "source.push.backup.",
    )
    backup_push_url_srt: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="SRT URL of the backup ingest, same key as pushUrlSrt. Set with source.push.backup.",
    )
    exposure: IngestExposure | None = Field(
        default=None,
        description="What the push URLs go through: LoadBalancer (the load balancer's address), NodePort (the "
        "operator's externalHost and the Service's nodePorts), HostNetwork (the ingest Pod's node address) or "
        "ClusterIP (the Service's cluster DNS name: inside the cluster only).",
    )
    reachable_from: str | None = Field(
        default=None,
        max_length=1024,
        description="Where the push URLs work from, and why not from elsewhere (e.g. a LoadBalancer still "
        "waiting for its address).",
    )
    regions: list[RegionalIngest] | None = Field(
        default=None,
        max_length=INGEST_REGIONS_MAX,
        description="Regional ingest points, for manual selection (the hosted multi_region_push_urls): the primary "
        "ingest's RTMP, RTMPS and SRT URLs through each region the operator lists (chart value ingest.regions: a "
        "host of each region's nodes with the Service's nodePorts, or a load balancer of the region's own, "
        "Service <stream>-ingest-region-<name>). One stream, one key, one publisher at a time, whichever URL it "
        "uses; pushUrl is unchanged. Only for push streams with a NodePort or LoadBalancer ingest Service (a "
        "ClusterIP stream shows none); not for WHIP (pushUrlWhip only) nor the backup ingest (backupPushUrl* "
        "only).",
    )
    stream_key_secret: str | None = Field(
        default=None,
        max_length=NAME_MAX,
        description="Name of the Secret that holds the stream key (the generated <stream>-stream-key or "
        "streamKeySecretRef's); the key itself is never shown in status.",
    )


class Playback(KubeModel):
    """Where viewers and players get the stream (served by the primary ingest)."""

    hls_cmaf_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="HLS playlist with fMP4 (CMAF) segments (.m3u8). Set when hls.cmaf is true.",
    )
    hls_mpegts_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="HLS playlist with MPEG-TS segments for legacy players (.m3u8). Set when hls.mpegts is true.",
    )
    screenshot_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="The latest JPEG screenshot of the live picture. Set when screenshots.enabled is true.",
    )
    dash_url: str | None = Field(
        default=None, max_length=URL_MAX, description="The live MPEG-DASH manifest (.mpd). Set when dash is true."
    )
    player_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="A web page that plays the stream (hls.js, LL-HLS when hls.latencyMode is low; ?format=dash "
        "plays the MPD with dash.js): open it, or embed it in an <iframe> on any site.",
    )
    whep_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="WebRTC playback endpoint (WHEP): POST an SDP offer, get the answer; sub-second latency. The "
        "signalling goes where the other URLs go, the media to the ingest Service's webrtc-udp (or webrtc-tcp) "
        "port. Set when playback.webrtc.enabled is true.",
    )
    srt_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="SRT for readers: srt://host:port (add ?mode=caller&streamid=<token> for a signed stream), "
        "through the ingest Service, where the push URLs are reached from. Set when playback.srt.enabled is true.",
    )
    rtsp_url: str | None = Field(
        default=None,
        max_length=URL_MAX,
        description="RTSP (or RTSPS) for readers: rtsp://host:port/live (a signed stream's token as ?token=, or "
        "Digest credentials), through the ingest Service. Set when playback.rtsp.enabled is true.",
    )
    exposure: PlaybackExposure | None = Field(
        default=None,
        description="What the URLs go through: Ingress or HTTPRoute (spec.playback), else the ingest Service's "
        "exposure (LoadBalancer, NodePort, HostNetwork, or ClusterIP: inside the cluster only).",
    )
    reachable_from: str | None = Field(default=None, max_length=1024, description="Where the playback URLs work from.")
    projection: Projection | None = Field(
        default=None,
        description="How the player page at playerUrl renders the picture now, as the primary ingest reports it "
        "(spec.playback.projection once applied, within a few seconds, without a restart); for a client that plays "
        "the URLs above in a 360° player of its own. Absent while no ingest reports it.",
    )


class Viewers(KubeModel):
    """Concurrent viewers: distinct playback sessions seen within the window, where viewers are served (the
    edge replicas and the ingest, a session counted once however many of them it reached)."""

    total: int = Field(default=0, ge=0, description="Viewers of every protocol.")
    hls: int = Field(default=0, ge=0, description="Standard HLS viewers (MPEG-TS or CMAF).")
    llhls: int = Field(default=0, ge=0, description="Low-latency HLS viewers (blocking playlist reloads, parts).")
    dash: int = Field(default=0, ge=0, description="MPEG-DASH viewers.")
    webrtc: int = Field(default=0, ge=0, description="WebRTC (WHEP) viewers connected now.")
    srt: int = Field(default=0, ge=0, description="SRT callers reading now.")
    rtsp: int = Field(default=0, ge=0, description="RTSP and RTSPS sessions playing now.")
    window_seconds: int = Field(
        default=30,
        ge=1,
        description="A HTTP session counts while it fetched media within this many seconds (the player page's "
        "sessions are one per page load; other players one per client address and User-Agent).",
    )


class LiveStreamStatus(ConditionedStatus):
    """Observed state of the live stream, written by the operator from its Pods and worker telemetry."""

    conditions: list[Condition] = conditions_field(
        "Current state as Kubernetes conditions: Ready (a push to status.ingest's URLs is accepted now, or the "
        "stream is switched off: the ingest Pod is ready and, where a Service carries publishers to it, the "
        "Service's EndpointSlice has a ready endpoint for it, else false with reason IngestEndpointPending; "
        "`kubectl wait --for=condition=Ready` then push, retrying a refused connection as encoders do, since each "
        "node's kube-proxy programs the route a moment after the EndpointSlice; false with "
        "reason Deactivated for a pull stream deactivated after its inactivity timeout), BackupReady (with "
        "source.push.backup: the same for the backup ingest and its own Service), Live, "
        "BackupLive (with source.push.backup), Recording, Overlays (with spec.overlays: True while every enabled "
        "overlay is drawn, False naming one that fails) and BrowserPlayable (whether common browsers play the HLS: "
        "False for H.264 High 10, 4:2:2 or 4:4:4, and HEVC, which plays in Safari and on Apple devices only; "
        "Unknown while not live); Reconciling, Stalled and "
        "RestartPending (present while a running worker waits until it is idle to be restarted for a change "
        "that can wait, naming the first difference; the annotation streaming.streamops.dev/restarts: immediate "
        "applies it now) appear only while true."
    )
    live: bool = Field(
        default=False,
        description="True while the primary ingest receives media; turns false a few seconds after media stops.",
    )
    backup_live: bool = Field(default=False, description="True while the backup ingest receives media.")
    active_ingest: IngestRole | None = Field(
        default=None,
        description="Whose media playback, recordings and restreams get now: primary, or backup while the primary's "
        "publisher sends nothing (source.push.backup). Unset while nothing is on air.",
    )
    active: bool | None = Field(
        default=None,
        description="Whether the stream is switched on: false when spec.active is false, or when a pull stream "
        "deactivated itself after inactivityTimeoutSeconds without data.",
    )
    ingest: IngestEndpoints | None = Field(
        default=None,
        description="Push endpoints for encoders and the name of the stream key's Secret. Only for push streams.",
    )
    playback: Playback | None = Field(default=None, description="HLS playlist and screenshot URLs for players.")
    viewers: Viewers | None = Field(
        default=None, description="Concurrent viewers by protocol (zeros while nobody watches or nothing runs)."
    )
    started_at_primary: datetime | None = Field(
        default=None, description="When the primary ingest last started receiving media (start of the last session)."
    )
    started_at_backup: datetime | None = Field(
        default=None, description="When the backup ingest last started receiving media."
    )
    finished_at_primary: datetime | None = Field(
        default=None,
        description="When the primary ingest's last session ended; not reset by a new session, so a startedAtPrimary "
        "later than this means the broadcast is ongoing.",
    )
    recording: bool = Field(default=False, description="True while a Recording of this stream is recording.")
    recording_duration: float | None = Field(
        default=None, ge=0, description="Seconds recorded so far by the running Recording; unset when none runs."
    )
    transcoding_speed: float | None = Field(
        default=None,
        ge=0,
        description="Processing speed relative to real time while live; about 1.0 is healthy, below 1.0 the "
        "ingest falls behind.",
    )
    frame_rate: float | None = Field(
        default=None, ge=0, description="Current frames per second of the source while live."
    )
    video_width: int | None = Field(default=None, ge=0, description="Frame width of the source in pixels while live.")
    video_height: int | None = Field(default=None, ge=0, description="Frame height of the source in pixels while live.")
    video_codec: str | None = Field(
        default=None, max_length=64, description="Video codec of the source while live, e.g. h264."
    )
    video_profile: str | None = Field(
        default=None,
        max_length=64,
        description="Profile of the source's video codec while live, e.g. High, High 10, Main 10 (condition "
        "BrowserPlayable says whether common browsers play it).",
    )
    pixel_format: str | None = Field(
        default=None,
        max_length=64,
        description="Pixel format of the source while live, as FFmpeg names it, e.g. yuv420p (8-bit 4:2:0), "
        "yuv420p10le (10-bit), yuv422p (4:2:2 chroma).",
    )
    bit_depth: int | None = Field(
        default=None, ge=1, le=32, description="Bits per sample of the source's video while live, e.g. 8 or 10."
    )
    audio_codec: str | None = Field(
        default=None, max_length=64, description="Audio codec of the source while live, e.g. aac."
    )
    protocol: SessionProtocol | None = Field(
        default=None,
        description="How the media on air arrives while live: rtmp (also for rtmps: TLS ends at the ingest), srt, "
        "whip, or pull.",
    )
    bitrate: int | None = Field(
        default=None, ge=0, description="Current bitrate of the source in bits per second while live."
    )
    overlays: list[OverlayStatus] | None = Field(
        default=None,
        max_length=8,
        description="Each of spec.overlays: rendering, failing (with why) or disabled; unset without overlays. An "
        "enabled overlay is listed once the ingest's renderer has tried its page.",
    )
    transcoded_qualities: list[str] | None = Field(
        default=None,
        max_length=16,
        description="The renditions the running ingest encodes, by name, tallest first (unset for passthrough, "
        "or while no ingest runs).",
        json_schema_extra={"items": {"type": "string", "maxLength": 32}},
    )
    sessions: list[PublishSession] | None = Field(
        default=None,
        max_length=SESSIONS_KEPT,
        description=f"The last {SESSIONS_KEPT} publish sessions of both ingests, oldest first (start, end, protocol, "
        "codecs, picture size, frame rate, average and peak bitrate); kept when an ingest restarts.",
    )
