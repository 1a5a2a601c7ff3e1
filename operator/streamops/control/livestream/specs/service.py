"""A LiveStream's ingest Services: the external one of the type asked for, and the internal ClusterIP one."""

from __future__ import annotations

import json

from streamops.api import LiveStream
from streamops.api.livestream import (
    RTMPS_LOAD_BALANCER_PORT,
    IngestService,
)
from streamops.contract.ingest import Role
from streamops.control.livestream.specs.child_metadata import child_metadata, with_managed_list
from streamops.control.livestream.specs.ports import INTERNAL_PORT_NAME, container_ports
from streamops.control.shared.settings import IngestSettings, OperatorSettings
from streamops.control.workers.handover_marks import SERVING, SERVING_LABEL
from streamops.control.workers.ingest_address import (
    POD_NETWORK_PORTS,
    IngestPortMap,
    ingest_names,
)
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    EDGE_OWNER_ANNOTATION,
    HOST_PORTS_ANNOTATION,
    INGEST_REGIONS_ANNOTATION,
    PLAYBACK_ROUTE_ANNOTATION,
    child_labels,
)


def ingest_selector(stream: LiveStream, role: Role) -> dict[str, str]:
    """The labels that select the role's serving ingest Pod (its external, internal and region
    Services'): of the two a handover runs at once, the one labelled serving (handover_marks.py)."""
    labels = child_labels(stream.metadata.name, ingest_names(stream.metadata.name, role).component)
    return {k: labels[k] for k in ("app.kubernetes.io/instance", "app.kubernetes.io/component")} | {
        SERVING_LABEL: SERVING
    }


def load_balancer_rtmps_port(stream: LiveStream) -> int:
    """The port a load balancer publishes RTMPS on: the stream's rtmpsPort, else 443 (the Service's own
    port is what encoders dial there, and the one firewalls let through)."""
    return stream.spec.ingest.service.rtmps_port or RTMPS_LOAD_BALANCER_PORT


def ingest_service_options(stream: LiveStream, ingest: IngestSettings) -> IngestService:
    """The stream's spec.ingest.service over the operator's defaults."""
    own = stream.spec.ingest.service
    type_ = own.type or ingest.service_type
    external = type_ in ("NodePort", "LoadBalancer")
    return IngestService.model_construct(
        type=type_,
        annotations={**ingest.service_annotations, **own.annotations},
        load_balancer_class=(own.load_balancer_class or ingest.load_balancer_class or None)
        if type_ == "LoadBalancer"
        else None,
        external_traffic_policy=(own.external_traffic_policy or ingest.external_traffic_policy or "Cluster")
        if external
        else None,
        node_ports=own.node_ports if external else None,
        rtmps_port=load_balancer_rtmps_port(stream) if type_ == "LoadBalancer" else own.rtmps_port,
    )


def ingest_service(
    stream: LiveStream,
    role: Role,
    settings: OperatorSettings,
    host_ports: IngestPortMap | None = None,
    playback_route_kind: str | None = None,
    edge_owner: str | None = None,
    regions: tuple[str, ...] = (),
) -> Manifest:
    """RTMP (TCP), SRT (UDP) and HTTP in one Service of the type the stream (or the operator) asks
    for. With host networking the allocation is recorded here: the Service outlives the Pods.
    `playback_route_kind` (Ingress, HTTPRoute) records which route the stream has, so that a
    removed one is found without reading every kind at every reconcile; `edge_owner` records
    that the stream's viewers come through the namespace's edge, and its line in the edge's routes
    (kube/naming.py's edge_owner_value: what control/edge/ plans the edge from), and `regions` the LoadBalancer regions
    whose Services it has (a region no longer listed is found and deleted)."""
    names = ingest_names(stream.metadata.name, role)
    options = ingest_service_options(stream, settings.ingest)
    # Fixed nodePorts go to the primary: two Services cannot hold the same one.
    fixed = options.node_ports.model_dump(exclude_none=True) if options.node_ports and role == "primary" else {}
    fixed = {name.replace("_", "-"): port for name, port in fixed.items()}  # webrtc_udp -> port webrtc-udp
    ports: list[Manifest] = []
    for name, (port, protocol) in container_ports(stream, role, settings, host_ports).items():
        if name == INTERNAL_PORT_NAME:
            continue  # the internal Service's only
        entry: Manifest = {"name": name, "port": port, "targetPort": name, "protocol": protocol}
        if name == "rtmps" and options.rtmps_port is not None:
            entry["port"] = options.rtmps_port  # the worker listens on its own (unprivileged) port
        if name in fixed:
            entry["nodePort"] = fixed[name]
        ports.append(entry)
    selector = ingest_selector(stream, role)
    metadata = child_metadata(stream, names.service, names.component)
    annotations = {**options.annotations, **metadata["annotations"]}
    if host_ports is not None:
        annotations[HOST_PORTS_ANNOTATION] = json.dumps(host_ports, sort_keys=True)
    if playback_route_kind and role == "primary":
        annotations[PLAYBACK_ROUTE_ANNOTATION] = playback_route_kind
    if edge_owner and role == "primary":
        annotations[EDGE_OWNER_ANNOTATION] = edge_owner
    if regions and role == "primary":
        annotations[INGEST_REGIONS_ANNOTATION] = json.dumps(list(regions))
    metadata["annotations"] = with_managed_list(annotations)
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
    selector = ingest_selector(stream, role)
    metadata = child_metadata(stream, names.internal_service, names.component)
    entry = {"name": INTERNAL_PORT_NAME, "port": port, "targetPort": INTERNAL_PORT_NAME, "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [entry]},
    }
