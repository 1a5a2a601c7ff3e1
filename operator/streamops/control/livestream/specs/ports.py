"""The ports of a LiveStream's ingest: the names allocated on the host network and the container's."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.contract.ingest import (
    RTMPS_PORT,
    Role,
)
from streamops.control.livestream.specs.features import reader_ports, rtmps_on, webrtc_on
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import (
    POD_NETWORK_PORTS,
    IngestPortMap,
)

# Allocated to every push ingest on the host network, whatever its protocols: an allocation
# outlives protocol changes. rtmps is added only for streams that list it (ingest_port_names).
BASE_PORT_NAMES = ("http", "rtmp", "srt")
# The ingest's internal face (feeds, status, metrics, the overlay switch, the backup uplink): on the
# Pod and on the internal ClusterIP Service only (ingest_internal_service), never on the external one.
INTERNAL_PORT_NAME = "internal"


def ingest_port_names(stream: LiveStream, role: Role, settings: OperatorSettings) -> tuple[str, ...]:
    """The ports a role's ingest is given on the host network. The internal one is not a base
    port: an allocation made before it existed keeps its ports and gains that one (reconcile.py's _host_ports)."""
    names = (*BASE_PORT_NAMES, "rtmps") if rtmps_on(stream) else BASE_PORT_NAMES
    if webrtc_on(stream, role, settings.playback):
        names = (*names, "webrtc-udp", "webrtc-tcp") if stream.spec.ingest.webrtc.ice_tcp else (*names, "webrtc-udp")
    return (*names, *reader_ports(stream, role), INTERNAL_PORT_NAME)


def container_ports(
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
    if webrtc_on(stream, role, settings.playback):
        out["webrtc-udp"] = (ports.get("webrtc-udp", POD_NETWORK_PORTS["webrtc-udp"]), "UDP")
        if stream.spec.ingest.webrtc.ice_tcp:
            out["webrtc-tcp"] = (ports.get("webrtc-tcp", POD_NETWORK_PORTS["webrtc-tcp"]), "TCP")
    for name in reader_ports(stream, role):  # SRT and RTSP for readers (docs/design/readers.md)
        out[name] = (ports.get(name, POD_NETWORK_PORTS[name]), "UDP" if name == "srt-read" else "TCP")
    return out
