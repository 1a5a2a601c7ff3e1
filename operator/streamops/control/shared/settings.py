"""Operator-wide settings, read once from the environment (the Helm chart sets them).

OperatorSettings holds one group per group of the chart's values (worker, telemetry, recordings,
node_loss, ingest, playback, edge, tenancy, egress, webhooks), so that code that needs one group is
handed only that group. A field's environment variable is STREAMOPS_ + its validation_alias (its name
when it has none), upper-cased: the names of the flat settings before the groups, which the chart sets."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails

from streamops.api.common import KubeModel, named_twice
from streamops.api.livestream import ADDRESS_PATTERN, INGEST_REGIONS_MAX, RENDITIONS_MAX, Rendition
from streamops.api.recording import S3Storage
from streamops.contract.ingest import (
    VIEWER_WINDOW_SECONDS,
    WHEP_MAX_VIEWERS,
    WHEP_MAX_VIEWERS_PER_ADDRESS,
    WHEP_MAX_VIEWERS_PER_TOKEN,
)
from streamops.contract.worker import POD_GRACE_SECONDS
from streamops.control.shared.worker_resources import WorkerResources

ENV_PREFIX = "STREAMOPS_"
# Annotations a stream may set unless the admin says otherwise: each changes only how the stream's
# own route is served and names nothing outside it (no snippets, no references to other objects,
# no load balancer, address or DNS claims). docs/design/tenancy.md says what was left out and why.
DEFAULT_ALLOWED_ANNOTATIONS = (
    "cert-manager.io/issuer",
    "nginx.ingress.kubernetes.io/proxy-buffering",
    "nginx.ingress.kubernetes.io/proxy-read-timeout",
    "nginx.ingress.kubernetes.io/proxy-send-timeout",
    "traefik.ingress.kubernetes.io/router.entrypoints",
    "traefik.ingress.kubernetes.io/router.tls",
)


class DefaultQualitySet(KubeModel):
    """The ClusterQualitySet the operator keeps (docs/design/quality-sets.md)."""

    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    renditions: list[Rendition] = Field(min_length=1, max_length=RENDITIONS_MAX)


def _default_quality_set() -> DefaultQualitySet:
    """1080p/720p/480p/360p H.264. 1080p and 720p at the H.264 rows of Apple's HLS Authoring
    Specification (6000 and 3000 kbit/s); 480p interpolated by pixel count between its 432p (1100) and
    540p (2000) rows; 360p at 800, the examples' own (Apple's 365 assumes a slower encode than the
    workers' live x264 veryfast). AAC 128 kbit/s, 96 at 360p (the examples' too). The chart's values
    (qualitySets.default) say the same: tests/chart checks that they do."""
    ladder = [("1080p", 1080, 6000, 128), ("720p", 720, 3000, 128), ("480p", 480, 1500, 128), ("360p", 360, 800, 96)]
    return DefaultQualitySet(
        name="default",
        renditions=[Rendition(name=n, height=h, video_bitrate_kbps=v, audio_bitrate_kbps=a) for n, h, v, a in ladder],
    )


REGION_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"


class RegionService(KubeModel):
    """How encoders of one region reach the primary ingest: through the region's nodes and the
    primary Service's nodePorts (NodePort: no Service of its own), or through a load balancer of the
    region's own, one more Service per stream (LoadBalancer)."""

    type: Literal["NodePort", "LoadBalancer"] = "NodePort"
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the region's LoadBalancer Services (e.g. its zone's)."
    )
    load_balancer_class: str = Field(
        default="", max_length=253, description="loadBalancerClass of the region's LoadBalancer Services."
    )

    @model_validator(mode="after")
    def _load_balancer_only(self) -> RegionService:
        if self.type == "NodePort" and (self.annotations or self.load_balancer_class):
            raise ValueError(
                "annotations and loadBalancerClass need service type LoadBalancer (a NodePort region makes no "
                "Service of its own)"
            )
        return self


class IngestRegion(KubeModel):
    """A regional ingest point (docs/design/exposure.md, "Regional ingest points"): the host name or IP
    of one region's (zone's) nodes, or of a load balancer in front of them, that encoders there push to
    with the ingest Services' nodePorts; or a load balancer of the region's own (service.type
    LoadBalancer), externalHost then the fallback while it has no address."""

    name: str = Field(min_length=1, max_length=32, pattern=REGION_NAME_PATTERN)
    external_host: str = Field(default="", max_length=253, pattern=f"^$|{ADDRESS_PATTERN}")
    service: RegionService = Field(default_factory=RegionService)

    @model_validator(mode="after")
    def _host_for_node_ports(self) -> IngestRegion:
        if self.service.type == "NodePort" and not self.external_host:
            raise ValueError(f"region {self.name}: a NodePort region needs externalHost (its nodes' address)")
        return self


def _json_or_default(model: type[BaseModel], value: object, info: ValidationInfo) -> object:
    """Maps and lists come from the environment as JSON (the chart writes them with toJson); empty is
    the field's default."""
    if isinstance(value, str):
        return (
            json.loads(value)
            if value.strip()
            else model.model_fields[str(info.field_name)].get_default(call_default_factory=True)
        )
    return value


def _resources_json(model: type[BaseModel], value: object, info: ValidationInfo) -> object:
    """JSON from the environment; empty or {} (the chart's default) is the field's default (the
    measured defaults, for the workers)."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    return value or model.model_fields[str(info.field_name)].get_default(call_default_factory=True)


def _json_or_none(value: object) -> object:
    """JSON from the environment; empty or {} (the chart's default for recordings.s3) is none."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else None
    return value or None


def _cidrs(value: list[str]) -> list[str]:
    for cidr in value:
        ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
    return value


class SettingsGroup(BaseModel):
    """One group of OperatorSettings. validation_alias is the field's name before the groups (and its
    environment variable's); by name or by that alias both construct it."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, extra="forbid")


class WorkerSettings(SettingsGroup):
    """The worker Pods: images, resources, addressing (chart worker.*)."""

    image: str = Field(
        default="ghcr.io/streamops/streamops-worker:0.1.0",
        validation_alias="worker_image",
        description="Image of the FFmpeg workers.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", validation_alias="worker_image_pull_policy"
    )
    overlay_image: str = Field(
        default="ghcr.io/streamops/streamops-overlay:0.1.0",
        description="Image of the ingest's overlay renderer sidecar (the worker image with Chromium).",
    )
    overlay_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    resources: WorkerResources = Field(
        default_factory=WorkerResources,
        validation_alias="worker_resources",
        description="Requests and limits of the worker containers by worker (JSON object with any of ingest, "
        "transcoding, pusher, recorder; one given replaces that worker's measured default whole). A "
        "LiveStream's spec.resources wins for its ingest.",
    )
    host_network: bool = Field(
        default=False,
        description="Run worker Pods with hostNetwork and ports allocated from port_range (no CNI needed).",
    )
    port_range: str = Field(
        default="30000-32767", pattern=r"^[0-9]+-[0-9]+$", description="Ports handed to hostNetwork workers."
    )
    address: str = Field(
        default="",
        max_length=253,
        validation_alias="worker_address",
        description="Explicit override: one host name/IP at which every worker is reached (URLs in status, feed "
        "URLs), e.g. 127.0.0.1 on a one-node host-network setup. Empty (the default, right with several nodes): "
        "feed URLs use the ingest Service's cluster DNS name, status URLs what docs/design/exposure.md says.",
    )
    bind_address: str = Field(
        default="0.0.0.0", validation_alias="worker_bind_address", description="Address the workers listen on."
    )
    restart_policy: Literal["handover", "idle", "immediate"] = Field(
        default="handover",
        validation_alias="worker_restart_policy",
        description="What becomes of a busy worker that differs from what it should run (a new image, a setting, "
        "a spec edit): handover (a successor Pod starts beside it, catches up, takes the Services or the work, "
        "then it goes: docs/design/handover.md; a pusher's successor reconnects each target once), idle (it keeps "
        "running until it is idle: RestartPending), immediate (replaced now, cutting the broadcast). The "
        "object's annotation streaming.streamops.dev/restarts overrides it. A recorder's successor continues the "
        "same video (on a claim two Pods can mount; to a bucket it waits for idle). With "
        "handover each serving ingest has a PodDisruptionBudget, so that a node drain waits for the handover.",
    )
    network_policies_file: str = Field(
        default="",
        validation_alias="worker_network_policies_file",
        description="The workers' NetworkPolicies (a YAML list, no namespace) to create in each namespace the operator "
        "runs workers in; empty: none (the chart renders them itself with watchNamespaces).",
    )

    @field_validator("resources", mode="before")
    @classmethod
    def _resources(cls, value: object, info: ValidationInfo) -> object:
        return _resources_json(cls, value, info)

    @field_validator("port_range")
    @classmethod
    def _ordered(cls, value: str) -> str:
        low, high = (int(p) for p in value.split("-"))
        if not 1024 <= low <= high <= 65535:
            raise ValueError("port_range must be LOW-HIGH within 1024..65535")
        return value

    @property
    def ports(self) -> range:
        low, high = (int(p) for p in self.port_range.split("-"))
        return range(low, high + 1)


class TelemetrySettings(SettingsGroup):
    """How often the loops look (chart worker.telemetry.*, operator.resyncSeconds)."""

    interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        validation_alias="telemetry_interval_seconds",
        description="How often each object's worker /status is read.",
    )
    idle_interval_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How often an object without a running worker is looked at anyway (a safety net: changes "
        "of the object, its Pods, its stream and the stream's Recordings wake its loop at once).",
    )
    metrics_write_seconds: float = Field(
        default=10.0,
        ge=0,
        description="Changes of live metrics only (fps, bitrate, bytes, durations) are written at most this often.",
    )
    resync_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Level-based safety net: every object is reconciled this often (changes of the objects "
        "and the deletion of their Pods trigger a reconcile at once anyway).",
    )


class RecordingsSettings(SettingsGroup):
    """Where recordings go and how long they stay (chart worker.recordings.*)."""

    claim: str = Field(
        default="streamops-recordings",
        max_length=253,
        validation_alias="recordings_claim",
        description="PVC (per namespace) recordings go to when a Recording names none; created when missing, "
        "owned by nothing so videos outlive streams and Recordings.",
    )
    claim_size: str = Field(
        default="20Gi", validation_alias="recordings_claim_size", description="Size of a created recordings PVC."
    )
    storage_class: str = Field(
        default="",
        validation_alias="recordings_storage_class",
        description="StorageClass of a created PVC (empty: default).",
    )
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"] = Field(
        default="ReadWriteOnce",
        validation_alias="recordings_access_mode",
        description="Access mode of a created recordings PVC, and what the operator assumes of the default claim: "
        "with ReadWriteOnce(Pod) every recorder of the claim is scheduled onto the node that has it mounted.",
    )
    videos_url: str = Field(
        default="",
        max_length=1024,
        pattern=r"^(https?://[^\s/?#]+(/[^\s?#]*)?)?$",
        validation_alias="recordings_videos_url",
        description="Public base URL of the edge that serves the namespaces' recordings claims under /videos/ "
        "(docs/design/claim-videos.md), e.g. https://play.example.com; {namespace} is replaced by the "
        "Recording's. Set: status.videos[].downloadUrl and pageUrl of claim videos. Empty (the default): none.",
    )
    s3: S3Storage | None = Field(
        default=None,
        validation_alias="recordings_s3",
        description="Default object storage of Recordings whose own spec and stream name none (JSON of a "
        "Recording's storage.s3; empty or {}: none, the default claim). Its credentialsSecret (and caSecret) "
        "must exist in each Recording's namespace.",
    )
    scratch_size: str = Field(
        default="10Gi",
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
        validation_alias="recordings_scratch_size",
        description="sizeLimit of the emptyDir a recorder uploading to object storage keeps its parts and "
        "finished videos in until they are uploaded.",
    )
    quota_bytes: int = Field(
        default=0,
        ge=0,
        validation_alias="recordings_quota_bytes",
        description="Byte limit of the recorded videos per namespace (the sum of its Recordings' "
        "status.storedBytes and its Clips' stored videos; 0: none). At 80 % Recordings warn (StorageAlmostFull), "
        "at 100 % a new Recording or Clip is refused (NoSpace) and running Recordings are finalised.",
    )
    retention_interval_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How often a Recording with storage.s3.deleteAfterDays looks for videos to delete.",
    )
    retention_day_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="The length of a day for deleteAfterDays. A test and demo knob: a few seconds make videos "
        "expire while one watches; leave it at 86400 anywhere else.",
    )

    @field_validator("s3", mode="before")
    @classmethod
    def _s3_json(cls, value: object) -> object:
        return _json_or_none(value)


class NodeLossSettings(SettingsGroup):
    """Worker Pods on a lost node (docs/design/node-loss.md; chart worker.nodeLoss.*)."""

    toleration_seconds: int = Field(
        default=30,
        ge=0,
        le=86400,
        validation_alias="node_lost_toleration_seconds",
        description="Worker Pods tolerate the node.kubernetes.io/unreachable and not-ready NoExecute taints this "
        "long, then they are evicted (Kubernetes' default is 300 s).",
    )
    force_delete_seconds: float = Field(
        default=10.0,
        ge=0,
        validation_alias="node_lost_force_delete_seconds",
        description="A worker Pod still there this long after its deletion deadline (deletionTimestamp, which "
        "includes its grace period) sits on a node whose kubelet is gone: it is force-deleted so that its "
        "replacement can be created.",
    )
    grace_seconds: float = Field(
        default=float(POD_GRACE_SECONDS),
        ge=0,
        le=3600,
        validation_alias="node_lost_grace_seconds",
        description="Of the grace period of a worker Pod evicted from a lost node (the taint eviction controller's "
        "deletion), at most this much counts toward its deletion deadline: nothing on a lost node runs it. The "
        "default is the workers' terminationGracePeriodSeconds (an uploading recorder's 300 s is cut to it).",
    )


class IngestSettings(SettingsGroup):
    """The ingest Services and how encoders reach them (docs/design/exposure.md; chart ingest.*,
    publish.*)."""

    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP",
        validation_alias="ingest_service_type",
        description="Type of ingest Services whose stream leaves spec.ingest.service.type unset.",
    )
    service_annotations: dict[str, str] = Field(
        default_factory=dict,
        validation_alias="ingest_service_annotations",
        description="Annotations of every ingest Service (JSON object); a stream's own win.",
    )
    load_balancer_class: str = Field(
        default="",
        max_length=253,
        validation_alias="ingest_load_balancer_class",
        description="loadBalancerClass of LoadBalancer ingest Services (empty: none).",
    )
    external_traffic_policy: Literal["", "Cluster", "Local"] = Field(
        default="",
        validation_alias="ingest_external_traffic_policy",
        description="externalTrafficPolicy of NodePort/LoadBalancer ingest Services (empty: Cluster).",
    )
    external_host: str = Field(
        default="",
        max_length=253,
        description="Host name/IP of the cluster's nodes as encoders and viewers outside reach them: status URLs of "
        "NodePort Services (and of LoadBalancer ones without an address yet) use it with the nodePorts. Empty: "
        "NodePorts are not shown as URLs.",
    )
    regions: list[IngestRegion] = Field(
        default_factory=list,
        max_length=INGEST_REGIONS_MAX,
        validation_alias="ingest_regions",
        description="Regional ingest points (JSON list of {name, externalHost, service: {type NodePort|"
        "LoadBalancer, annotations, loadBalancerClass}}, names unique): each NodePort or LoadBalancer push stream "
        "shows push URLs for each (status.ingest.regions): a NodePort region's host with the stream's Service's "
        "nodePorts; a LoadBalancer region's own Service <stream>-ingest-region-<name> and its address. Empty: "
        "none, the default push URLs only.",
    )
    publish_over_http: bool = Field(
        default=False,
        description="Serve WHIP and the publish page, which carry the stream key, over plain HTTP too (a NodePort, "
        "a load balancer without TLS); otherwise only through an HTTPS route.",
    )

    @field_validator("service_annotations", "regions", mode="before")
    @classmethod
    def _json(cls, value: object, info: ValidationInfo) -> object:
        return _json_or_default(cls, value, info)

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, regions: list[IngestRegion]) -> list[IngestRegion]:
        twice = sorted(named_twice([r.name for r in regions]))
        if twice:
            raise ValueError(f"ingest regions named twice: {', '.join(twice)}")
        return regions

    @property
    def load_balancer_regions(self) -> tuple[str, ...]:
        """The regions with a load balancer of their own (a Service per stream), by name, in order."""
        return tuple(r.name for r in self.regions if r.service.type == "LoadBalancer")


class GeoIPDatabase(KubeModel):
    """The admin's GeoIP database (chart playback.geoip): a volume in each stream namespace's Pods and the
    database's file in it (docs/design/playback-rules.md)."""

    volume: dict[str, Any] = Field(
        min_length=1,
        description="A Kubernetes volume source without its name, e.g. {secret: {secretName: geoip}}, {configMap: "
        "{name: geoip}}, {hostPath: {path: /var/lib/geoip}}: what the ingests and the edges mount read-only.",
    )
    file: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$",
        description="The database's file in that volume (MaxMind's format), e.g. GeoLite2-Country.mmdb.",
    )


class PlaybackSettings(SettingsGroup):
    """The playback plane and its routes (docs/design/playback.md, exposure.md; chart playback.*)."""

    access: Literal["public", "signed"] = Field(
        default="public",
        validation_alias="playback_access",
        description="Access of streams whose spec.playback.access is unset.",
    )
    viewer_window_seconds: float = Field(
        default=float(VIEWER_WINDOW_SECONDS),
        gt=0,
        le=3600,
        description="A viewer session counts while it made a media request within this long (the ingests' and "
        "edges' /viewers, status.viewers). Another value restarts the ingests; the default leaves their "
        "configuration as it was.",
    )
    trusted_proxy_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs of the proxies in front of the ingests and the edge (the Ingress controller, the edge's "
        "Pods) whose X-Forwarded-For names the viewer (JSON list; empty: X-Forwarded-For is never believed).",
    )
    webrtc: bool = Field(
        default=True,
        validation_alias="webrtc_playback",
        description="Serve WebRTC (WHEP) playback for streams whose spec.playback.webrtc.enabled is unset.",
    )
    # The WebRTC component's WHEP caps (docs/design/webrtc.md, "WHEP session caps").
    webrtc_max_viewers: int = Field(
        default=WHEP_MAX_VIEWERS, ge=0, description="Connected WHEP viewers of one ingest (503 beyond; 0: no cap)."
    )
    webrtc_max_viewers_per_address: int = Field(
        default=WHEP_MAX_VIEWERS_PER_ADDRESS,
        ge=0,
        description="WHEP sessions of one client address, IPv6 per /64 (429 beyond; 0: no cap): room for the viewers "
        "behind one NAT, so that one address cannot take every viewer's place.",
    )
    webrtc_max_viewers_per_token: int = Field(
        default=WHEP_MAX_VIEWERS_PER_TOKEN,
        ge=0,
        description="WHEP sessions of one signed playback token (429 beyond; 0: no cap).",
    )
    ingress_enabled: bool = Field(
        default=False,
        validation_alias="playback_ingress_enabled",
        description="Give every stream an Ingress for playback (spec.playback.ingress overrides).",
    )
    ingress_class_name: str = Field(
        default="",
        max_length=253,
        validation_alias="playback_ingress_class_name",
        description="Default ingressClassName.",
    )
    ingress_host: str = Field(
        default="", max_length=253, validation_alias="playback_ingress_host", description="Default Ingress host."
    )
    ingress_tls_secret_name: str = Field(
        default="",
        max_length=253,
        validation_alias="playback_ingress_tls_secret_name",
        description="Default kubernetes.io/tls Secret of the Ingress host (empty: no TLS).",
    )
    ingress_annotations: dict[str, str] = Field(
        default_factory=dict,
        validation_alias="playback_ingress_annotations",
        description="Annotations of every playback Ingress (JSON object); a stream's own win.",
    )
    http_route_enabled: bool = Field(
        default=False,
        validation_alias="playback_http_route_enabled",
        description="Give every stream an HTTPRoute for playback (spec.playback.httpRoute overrides).",
    )
    http_route_parent_refs: list[dict[str, str]] = Field(
        default_factory=list,
        validation_alias="playback_http_route_parent_refs",
        description="Default parentRefs of HTTPRoutes (JSON list of {name, namespace, sectionName}).",
    )
    http_route_hostnames: list[str] = Field(
        default_factory=list,
        validation_alias="playback_http_route_hostnames",
        description="Default hostnames of HTTPRoutes (JSON list).",
    )
    http_route_https: bool = Field(
        default=False,
        validation_alias="playback_http_route_https",
        description="The Gateway terminates TLS: playback URLs through HTTPRoutes use https://.",
    )
    geoip: GeoIPDatabase | None = Field(
        default=None,
        validation_alias="playback_geoip",
        description="A GeoIP database in MaxMind's format for PlaybackPolicies naming countries (JSON {volume, file}; "
        "null: none, and such policies are not Ready). Mounted into every edge and into the ingests of streams "
        "that name a policy.",
    )

    @field_validator(
        "ingress_annotations",
        "http_route_parent_refs",
        "http_route_hostnames",
        "trusted_proxy_cidrs",
        "geoip",
        mode="before",
    )
    @classmethod
    def _json(cls, value: object, info: ValidationInfo) -> object:
        return _json_or_default(cls, value, info)

    @field_validator("trusted_proxy_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return _cidrs(value)


class EdgeSettings(SettingsGroup):
    """The namespaces' edge tier (docs/design/playback.md; chart edge.*)."""

    enabled: bool = Field(
        default=False,
        validation_alias="edge_enabled",
        description="Serve viewers of streams with a playback route through their namespace's edge tier "
        "(spec.playback.edge.enabled overrides).",
    )
    image: str = Field(
        default="ghcr.io/streamops/streamops-edge:0.1.0",
        validation_alias="edge_image",
        description="Image of the edge (nginx + Lua).",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", validation_alias="edge_image_pull_policy"
    )
    replicas: int = Field(
        default=2,
        ge=1,
        le=100,
        validation_alias="edge_replicas",
        description="Edge replicas (the autoscaler's minimum).",
    )
    max_replicas: int = Field(
        default=10,
        ge=1,
        le=1000,
        validation_alias="edge_max_replicas",
        description="The autoscaler's maximum number of edge replicas.",
    )
    target_cpu_percent: int = Field(
        default=70,
        ge=1,
        le=100,
        validation_alias="edge_target_cpu_percent",
        description="The autoscaler's target: average CPU use of the request, in percent.",
    )
    resources: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        validation_alias="edge_resources",
        description="Requests and limits of the edge container (JSON; empty or {}: these); the autoscaler needs a "
        "CPU request.",
    )
    cache_size: str = Field(
        default="256Mi",
        pattern=r"^[0-9]+(Ki|Mi|Gi)$",
        validation_alias="edge_cache_size",
        description="Size of each edge replica's cache (an emptyDir in memory: parts and segments of the DVR "
        "window of its streams, most recent first).",
    )

    @field_validator("resources", mode="before")
    @classmethod
    def _resources(cls, value: object, info: ValidationInfo) -> object:
        return _resources_json(cls, value, info)


class TenancySettings(SettingsGroup):
    """What a LiveStream's author may ask for (docs/design/tenancy.md; chart tenancy.*)."""

    playback_path_any_prefix: bool = Field(
        default=False,
        validation_alias="tenancy_playback_path_any_prefix",
        description="Let a stream's playback path be any prefix. false (the default): it must lie under "
        "/streams/<the stream's namespace>/, so that no namespace serves media under another one's URLs.",
    )
    allowed_annotations: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_ANNOTATIONS),
        validation_alias="tenancy_allowed_annotations",
        description="Annotation keys a stream may set on its Ingress (spec.playback.ingress.annotations) and its "
        "ingest Service (spec.ingest.service.annotations) (JSON list of patterns; * matches any characters). "
        "The operator's own defaults (ingest_service_annotations, playback_ingress_annotations) are always set.",
    )
    allow_load_balancer: bool = Field(
        default=False,
        validation_alias="tenancy_allow_load_balancer",
        description="Let a stream ask for a LoadBalancer ingest Service (spec.ingest.service.type), and have the "
        "LoadBalancer regions' Services (ingest_regions) when its own type is wider than the operator's default. "
        "The operator's default type (ingest_service_type) is the admin's and always honoured.",
    )
    allow_node_port: bool = Field(
        default=False,
        validation_alias="tenancy_allow_node_port",
        description="Let a stream ask for a NodePort ingest Service (spec.ingest.service.type) where the operator's "
        "default type is ClusterIP: its ports open on every node's address. Implied by tenancy_allow_load_balancer "
        "(a LoadBalancer Service has nodePorts too) and by a default type of NodePort or LoadBalancer.",
    )
    allow_fixed_node_ports: bool = Field(
        default=False,
        validation_alias="tenancy_allow_fixed_node_ports",
        description="Let a stream choose its nodePorts (spec.ingest.service.nodePorts): each holds that port on "
        "every node, in the range all namespaces share. false: the API server allocates them.",
    )
    require_secret_label: bool = Field(
        default=True,
        validation_alias="tenancy_require_secret_label",
        description="Use a Secret a spec names (streamKeySecretRef, source.push.tls.secretName, "
        "iceServersSecretRef, playback.ingress.tlsSecretName, storage.s3.credentialsSecret and caSecret, a "
        "StreamWebhook's secretRef) only when it is labelled streaming.streamops.dev/allow-reference=true "
        "(recordings_s3, the admin's own storage, is not checked); one that does not exist yet is not mounted "
        "until it exists with the label. false: any Secret of the namespace (the behaviour of 0.1; for an upgrade "
        "window only).",
    )

    @field_validator("allowed_annotations", mode="before")
    @classmethod
    def _json(cls, value: object, info: ValidationInfo) -> object:
        return _json_or_default(cls, value, info)


class EgressSettings(SettingsGroup):
    """The egress guard of overlay pages and webhook deliveries (docs/design/egress.md; chart
    networkPolicy.egressAllowCIDRs, clusterCIDRs)."""

    allow_cidrs: list[str] = Field(
        default_factory=list,
        validation_alias="egress_allow_cidrs",
        description="Networks overlay pages and webhook receivers may reach although they are loopback, "
        "link-local, private, the cluster's or otherwise not public (JSON list of CIDRs; empty: none).",
    )
    cluster_cidrs: list[str] = Field(
        default_factory=list,
        validation_alias="egress_cluster_cidrs",
        description="The cluster's Pod and Service ranges (JSON list of CIDRs), refused like private ranges: "
        "needed only when they are not private addresses.",
    )

    @field_validator("allow_cidrs", "cluster_cidrs", mode="before")
    @classmethod
    def _json(cls, value: object, info: ValidationInfo) -> object:
        return _json_or_default(cls, value, info)

    @field_validator("allow_cidrs", "cluster_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return _cidrs(value)


class WebhookSettings(SettingsGroup):
    """Webhook deliveries (docs/design/webhooks.md; chart webhooks.*)."""

    backoff_cap_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        validation_alias="webhook_backoff_cap_seconds",
        description="The longest wait between two delivery attempts to a failing webhook receiver (1, 2, 4 … "
        "this, ±20 %): a receiver that is back gets its backlog within it. Also how often a StreamWebhook "
        "whose Secret is missing looks for it again.",
    )


class OperatorSettings(BaseModel):
    """The operator's settings: a group per group of the chart's values, and the two top-level ones."""

    model_config = ConfigDict(extra="forbid")

    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    recordings: RecordingsSettings = Field(default_factory=RecordingsSettings)
    node_loss: NodeLossSettings = Field(default_factory=NodeLossSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    playback: PlaybackSettings = Field(default_factory=PlaybackSettings)
    edge: EdgeSettings = Field(default_factory=EdgeSettings)
    tenancy: TenancySettings = Field(default_factory=TenancySettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)

    cluster_domain: str = Field(
        default="cluster.local",
        max_length=253,
        description="The cluster's DNS domain (the edge reaches ingests by it).",
    )
    # --- transcoding ---
    default_quality_set: DefaultQualitySet | None = Field(
        default_factory=_default_quality_set,
        description="The ClusterQualitySet the operator creates when it is missing, at start and when it is "
        "deleted; never updated (edit the object) (JSON {name, renditions}; empty or {}: none).",
    )

    @field_validator("default_quality_set", mode="before")
    @classmethod
    def _quality_set_json(cls, value: object) -> object:
        return _json_or_none(value)

    @classmethod
    def env_names(cls) -> dict[str, tuple[str, ...]]:
        """Every setting's environment variable: the path of its field (group, name; or name)."""
        names: dict[str, tuple[str, ...]] = {}
        for name, field in cls.model_fields.items():
            group = field.annotation
            if isinstance(group, type) and issubclass(group, SettingsGroup):
                for inner, f in group.model_fields.items():
                    names[ENV_PREFIX + str(f.validation_alias or inner).upper()] = (name, inner)
            else:
                names[ENV_PREFIX + name.upper()] = (name,)
        return names

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OperatorSettings:
        values: dict[str, Any] = {}
        for env_name, path in cls.env_names().items():
            if env_name in env:
                group = values.setdefault(path[0], {}) if len(path) == 2 else values
                group[env_name.removeprefix(ENV_PREFIX).lower()] = env[env_name]
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            raise _flat(e) from None


def _flat(error: ValidationError) -> ValidationError:
    """The error as the flat settings said it: a group field's location starts with its variable's
    name (the alias it was read by), not with its group."""
    groups = {path[0] for path in OperatorSettings.env_names().values() if len(path) == 2}
    details: list[InitErrorDetails] = []
    for d in error.errors():
        loc = d["loc"][1:] if len(d["loc"]) > 1 and d["loc"][0] in groups else d["loc"]
        detail = InitErrorDetails(type=d["type"], loc=loc, input=d["input"])
        if "ctx" in d:
            detail["ctx"] = d["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(error.title, details)
