"""Where a stream's ingest is reached: its Pod and Service names, ports, hosts and the live feed URL
that recorders and pushers read. Every kind that talks to an ingest uses this one module."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.contract.ingest import (
    FEED_PATH,
    RTMPS_PORT,
    RTSP_READ_PORT,
    RTSPS_READ_PORT,
    SRT_READ_PORT,
    TRANSCODED_FEED_PATH,
    WEBRTC_TCP_PORT,
    WEBRTC_UDP_PORT,
    IngestPorts,
    Role,
)
from streamops.control.shared.settings import PlaybackSettings
from streamops.kube.naming import child_name

# Port name ("http", "rtmp", "srt", "rtmps", "webrtc-udp", "webrtc-tcp": the Service's and the container's
# port names) -> port: a host-port allocation, or the pod network's.
IngestPortMap = dict[str, int]
WEBRTC_PORT_NAMES = ("webrtc-udp", "webrtc-tcp")
POD_NETWORK_PORTS: IngestPortMap = {
    **IngestPorts().model_dump(exclude_none=True),
    "rtmps": RTMPS_PORT,
    "webrtc-udp": WEBRTC_UDP_PORT,
    "webrtc-tcp": WEBRTC_TCP_PORT,
    "srt-read": SRT_READ_PORT,
    "rtsp": RTSP_READ_PORT,
    "rtsps": RTSPS_READ_PORT,
}
READER_PORT_NAMES = ("srt-read", "rtsp", "rtsps")


def ingest_ports(ports: IngestPortMap) -> IngestPorts:
    """The worker's view of a port map (port names have dashes, the configuration's fields do not)."""
    return IngestPorts.model_validate({name.replace("-", "_"): port for name, port in ports.items()})


@dataclass(frozen=True)
class IngestNames:
    pod: str
    service: str  # the stream's Service, of the type it asks for: the public ports
    component: str
    internal_service: str  # ClusterIP, the internal port only: what the operator and workers use


INTERNAL_SERVICE_SUFFIX = "internal"  # `<ingest Service>-internal`: the internal face's Service


def ingest_component(role: Role) -> str:
    """The component label of a role's ingest Pod and Service."""
    return "ingest" if role == "primary" else "ingest-backup"


SECOND_SLOT_SUFFIX = "b"  # `<ingest Pod>-b`: the second slot, where a successor starts beside the running Pod


def ingest_slots(stream_name: str, role: Role) -> tuple[str, str]:
    """The two names a role's ingest Pod takes in turn (a handover's successor takes the free one):
    `<stream>-ingest` and `<stream>-ingest-b` (the backup's: `-ingest-backup`, `-ingest-backup-b`).
    No other child is named so: the Services add -internal and -region-<name>, recorders -recorder."""
    first = ingest_names(stream_name, role).pod
    return first, child_name(first, SECOND_SLOT_SUFFIX)


def ingest_names(stream_name: str, role: Role) -> IngestNames:
    component = ingest_component(role)
    name = child_name(stream_name, component)
    return IngestNames(
        pod=name, service=name, component=component, internal_service=child_name(name, INTERNAL_SERVICE_SUFFIX)
    )


REGION_COMPONENT = "ingest-region"  # a LoadBalancer region's Service (docs/design/exposure.md)


def region_service_name(stream_name: str, region: str) -> str:
    """`<stream>-ingest-region-<region>`: a LoadBalancer region's Service to the primary ingest (the
    infix keeps a region named backup or internal off the ingests' own Services)."""
    return child_name(stream_name, f"{REGION_COMPONENT}-{region}")


def in_cluster_host(stream: LiveStream, role: Role, internal: bool = False) -> str:
    """The ingest Service's cluster DNS name (`internal`: the internal Service's)."""
    names = ingest_names(stream.metadata.name, role)
    return f"{names.internal_service if internal else names.service}.{stream.metadata.namespace}.svc"


def ingest_host(stream: LiveStream, role: Role, worker_address: str = "", internal: bool = False) -> str:
    """Where other workers reach the ingest: the explicit worker address override, else the
    Service's DNS name (right on any number of nodes; with host networking too, through the
    Service's endpoints at the Pod's node)."""
    return worker_address or in_cluster_host(stream, role, internal)


def ingest_http_url(stream: LiveStream, worker_address: str = "", ports: IngestPortMap | None = None) -> str:
    """Base URL of the primary ingest's public HTTP face (HLS, DASH, the screenshot: what the edge
    and the clipper read, through the playback gate as any viewer)."""
    return f"http://{ingest_host(stream, 'primary', worker_address)}:{(ports or POD_NETWORK_PORTS)['http']}"


def ingest_internal_url(
    stream: LiveStream, worker_address: str = "", ports: IngestPortMap | None = None, role: Role = "primary"
) -> str:
    """Base URL of a role's ingest's internal face (the live feeds, the backup uplink)."""
    host = ingest_host(stream, role, worker_address, internal=True)
    return f"http://{host}:{(ports or POD_NETWORK_PORTS)['internal']}"


def playback_signed(stream: LiveStream, playback: PlaybackSettings) -> bool:
    """Whether the ingest's HLS wants a signed token: spec.playback.access, else the operator's
    default (the ingest is configured by it; a clipper reading the HLS signs its own token by it)."""
    return (stream.spec.playback.access or playback.access) == "signed"


def feed_url(stream: LiveStream, type_: str, worker_address: str, ingest_ports: IngestPortMap | None) -> str:
    """The live feed recorders and pushers read from the primary ingest (`type_` transcoded: the
    transcoded ladder's, else the origin)."""
    base = ingest_internal_url(stream, worker_address, ingest_ports)
    return f"{base}{TRANSCODED_FEED_PATH}" if type_ == "transcoded" else f"{base}{FEED_PATH}"
