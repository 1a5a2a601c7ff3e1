"""A LoadBalancer region's Service: one more entry point to a stream's primary ingest, through a load
balancer of the region's own (docs/design/exposure.md, "Regional ingest points")."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.control.livestream.specs.child_metadata import child_metadata, with_managed_list
from streamops.control.livestream.specs.ports import container_ports
from streamops.control.livestream.specs.service import ingest_selector, load_balancer_rtmps_port
from streamops.control.shared.settings import IngestRegion, OperatorSettings
from streamops.control.workers.ingest_address import (
    REGION_COMPONENT,
    IngestPortMap,
    region_service_name,
)
from streamops.kube.manifests import Manifest

# What publishers use, nothing else: not HTTP (playback has its route), not WebRTC (WHIP signals
# through the playback route and announces the primary's own ports), never the internal port.
REGION_PORT_NAMES = ("rtmp", "rtmps", "srt")


def region_service(
    stream: LiveStream, region: IngestRegion, settings: OperatorSettings, host_ports: IngestPortMap | None = None
) -> Manifest:
    """A LoadBalancer Service selecting the primary ingest Pod, with the stream's push ports (RTMPS on
    443, or the stream's own rtmpsPort: the load balancer's port is what encoders dial). Cluster
    traffic policy: the region's load balancer forwards to the ingest on whatever node it runs."""
    name = region_service_name(stream.metadata.name, region.name)
    selector = ingest_selector(stream, "primary")
    ports: list[Manifest] = []
    for port_name, (port, protocol) in container_ports(stream, "primary", settings, host_ports).items():
        if port_name not in REGION_PORT_NAMES:
            continue
        if port_name == "rtmps":
            port = load_balancer_rtmps_port(stream)
        ports.append({"name": port_name, "port": port, "targetPort": port_name, "protocol": protocol})
    metadata = child_metadata(stream, name, REGION_COMPONENT)
    metadata["annotations"] = with_managed_list({**region.service.annotations, **metadata["annotations"]})
    spec: Manifest = {"type": "LoadBalancer", "selector": selector, "ports": ports}
    if region.service.load_balancer_class:
        spec["loadBalancerClass"] = region.service.load_balancer_class
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
