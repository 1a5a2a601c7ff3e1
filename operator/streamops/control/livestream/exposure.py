"""Where encoders and viewers reach a stream from, decided from what is observed (pure).

An ingest Service's URLs are only shown from where they work (docs/design/exposure.md):
1. a LoadBalancer Service's ingress address (status.loadBalancer, written by its controller), with
   the Service ports;
2. a NodePort (or a LoadBalancer still without an address) with the operator's `external_host` and
   the nodePorts the API server allocated (read back from the Service); with externalTrafficPolicy
   Local, the running ingest Pod's node (status.hostIP) instead: no other node answers;
3. the operator's explicit `worker_address` override, when set (a stream's own exposure above wins
   over one address for every worker);
4. with host networking, the ingest Pod's node address (status.hostIP) and its host ports;
5. else the Service's cluster DNS name with its ports: inside the cluster only.
Regional ingest points (the operator's ingest regions), beside whichever of these the default URLs
use: a NodePort region's host with the primary Service's nodePorts, a LoadBalancer region's own
Service's address (rows 1-2 for that Service and the region's host).
Playback goes through the stream's Ingress or HTTPRoute when it has a host name, else the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from streamops.api.livestream import IngestExposure, PlaybackExposure
from streamops.control.shared.settings import IngestRegion
from streamops.kube.manifests import Body


@dataclass(frozen=True)
class ServiceObservation:
    """What the operator observes of an ingest Service (from its watch)."""

    name: str
    type: str = "ClusterIP"
    ports: Mapping[str, int] = field(default_factory=dict)  # port name -> Service port
    node_ports: Mapping[str, int] = field(default_factory=dict)  # port name -> allocated nodePort
    load_balancer: str = ""  # status.loadBalancer.ingress[0]: ip, else hostname
    local_traffic: bool = False  # externalTrafficPolicy Local: nodes without the Pod drop its nodePorts' traffic

    @classmethod
    def of(cls, body: Body | None) -> ServiceObservation | None:
        if not body:
            return None
        spec = body.get("spec") or {}
        ports, node_ports = {}, {}
        for port in spec.get("ports") or []:
            name = str(port.get("name") or "")
            if isinstance(port.get("port"), int):
                ports[name] = int(port["port"])
            if isinstance(port.get("nodePort"), int):
                node_ports[name] = int(port["nodePort"])
        ingress = ((body.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        first = ingress[0] if ingress and isinstance(ingress[0], Mapping) else {}
        return cls(
            name=str((body.get("metadata") or {}).get("name") or ""),
            type=str(spec.get("type") or "ClusterIP"),
            ports=ports,
            node_ports=node_ports,
            load_balancer=str(first.get("ip") or first.get("hostname") or ""),
            local_traffic=spec.get("externalTrafficPolicy") == "Local",
        )


@dataclass(frozen=True)
class Reach:
    """One ingest as seen from where its URLs work: host, ports by name, what kind of exposure, and
    a short sentence for users."""

    host: str
    ports: Mapping[str, int]
    exposure: IngestExposure
    reachable_from: str

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


@dataclass(frozen=True)
class ReachInputs:
    """What decides a reach besides the Service: the operator's settings and the Pod's node."""

    in_cluster_host: str  # <svc>.<ns>.svc
    default_ports: Mapping[str, int]  # the ports when the Service is not observed yet
    worker_address: str = ""  # explicit override (STREAMOPS_WORKER_ADDRESS)
    external_host: str = ""  # the nodes' address as seen from outside (STREAMOPS_EXTERNAL_HOST)
    host_network: bool = False
    host_ports: Mapping[str, int] | None = None  # hostNetwork allocation
    pod_host_ip: str = ""  # status.hostIP of the ingest Pod


def _node_ports_text(service: ServiceObservation) -> str:
    return ", ".join(f"{name} {port}" for name, port in sorted(service.node_ports.items()))


def ingest_reach(service: ServiceObservation | None, given: ReachInputs) -> Reach:
    """See the module's docstring for the order."""
    note = ""  # why a better exposure is not there (yet)
    if service is not None and service.type == "LoadBalancer":
        if service.load_balancer:
            return Reach(
                service.load_balancer,
                service.ports,
                "LoadBalancer",
                f"anywhere that reaches the load balancer's address {service.load_balancer}",
            )
        note = "the LoadBalancer Service has no address yet (its controller sets status.loadBalancer); "
    if service is not None and service.type in ("NodePort", "LoadBalancer") and service.node_ports:
        if service.local_traffic and given.pod_host_ip:
            # Only a node running the ingest answers, and it keeps the encoder's own address (no SNAT).
            return Reach(
                given.pod_host_ip,
                service.node_ports,
                "NodePort",
                f"{note}outside the cluster through {given.pod_host_ip} (the node the ingest Pod runs on: "
                "externalTrafficPolicy Local) and the Service's nodePorts",
            )
        if given.external_host:
            local = (
                " (externalTrafficPolicy Local: only while the ingest Pod runs on that node; it runs on none yet)"
                if service.local_traffic
                else ""
            )
            return Reach(
                given.external_host,
                service.node_ports,
                "NodePort",
                f"{note}outside the cluster through {given.external_host} (the nodes' address) and the "
                f"Service's nodePorts{local}",
            )
        note += (
            f"nodePorts {_node_ports_text(service)} on every node's address (set the operator's externalHost to "
            "see them as URLs); "
        )
    if given.worker_address:
        return Reach(
            given.worker_address,
            given.host_ports or (service.ports if service else given.default_ports),
            "HostNetwork" if given.host_network else "ClusterIP",
            f"{note}wherever {given.worker_address} reaches the workers (the operator's worker address override)",
        )
    if given.host_network and given.pod_host_ip and given.host_ports:
        return Reach(
            given.pod_host_ip,
            given.host_ports,
            "HostNetwork",
            f"{note}wherever the ingest Pod's node address {given.pod_host_ip} is reachable (host network)",
        )
    ports = service.ports if service is not None and service.ports else (given.host_ports or given.default_ports)
    return Reach(given.in_cluster_host, ports, "ClusterIP", f"{note}inside the cluster only")


@dataclass(frozen=True)
class RegionReach:
    """One regional ingest point: where its URLs go (None: none works yet) and a sentence for users."""

    name: str
    reach: Reach | None
    reachable_from: str


def region_reaches(
    primary: ServiceObservation | None,
    regions: Sequence[IngestRegion],
    region_services: Mapping[str, ServiceObservation] | None = None,
    refused: Mapping[str, str] | None = None,
    load_balancers: bool = True,
    pod_host_ip: str = "",
) -> list[RegionReach]:
    """Each regional ingest point, in the operator's order: a NodePort region is its host with the
    primary Service's nodePorts, which kube-proxy on every node forwards to the ingest wherever it
    runs; a LoadBalancer region is its own Service's load balancer address with the Service's ports,
    else (no address yet) its host with that Service's nodePorts, as ingest_reach does. None at all
    without an external primary Service (ClusterIP, or not observed yet): nothing outside reaches it.
    `refused`: the server's refusal of a region's Service, by region (a create, or a patch of one
    that exists: a changed loadBalancerClass is immutable), said first. `load_balancers` False: the
    stream may not have the LoadBalancer regions' Services (tenancy.regional_load_balancers_allowed);
    `pod_host_ip`: the running ingest Pod's node, said to NodePort regions under the Local policy."""
    if primary is None or primary.type not in ("NodePort", "LoadBalancer"):
        return []
    return [
        _region_reach(
            primary, r, (region_services or {}).get(r.name), (refused or {}).get(r.name), load_balancers, pod_host_ip
        )
        for r in regions
    ]


def _region_reach(
    primary: ServiceObservation,
    region: IngestRegion,
    own: ServiceObservation | None,
    refused: str | None,
    load_balancers: bool,
    pod_host_ip: str,
) -> RegionReach:
    name, host = region.name, region.external_host
    if region.service.type == "NodePort":
        if not primary.node_ports:
            return RegionReach(name, None, f"the Service {primary.name} has no nodePorts yet")
        through = f"outside the cluster through {host} (region {name}'s nodes) and the Service's nodePorts"
        if primary.local_traffic:  # kube-proxy forwards nothing from a node without the Pod
            where = f" (now on {pod_host_ip})" if pod_host_ip else ""
            through += f", only while the ingest Pod runs on one of them{where} (externalTrafficPolicy Local)"
        return RegionReach(name, Reach(host, primary.node_ports, "NodePort", through), through)
    if not load_balancers:
        return RegionReach(
            name,
            None,
            f"region {name}'s load balancer is not made for this stream: its own spec.ingest.service.type is wider "
            "than the operator's default (chart value tenancy.allowLoadBalancer)",
        )
    said = f"{refused}; " if refused else ""
    if own is None:
        return RegionReach(name, None, f"{said}region {name}'s LoadBalancer Service is not created yet")
    if own.load_balancer:
        through = f"{said}anywhere that reaches region {name}'s load balancer address {own.load_balancer}"
        return RegionReach(name, Reach(own.load_balancer, own.ports, "LoadBalancer", through), through)
    note = (
        f"{said}region {name}'s LoadBalancer Service {own.name} has no address yet (its controller sets "
        "status.loadBalancer)"
    )
    if host and own.node_ports:
        through = f"{note}; outside the cluster through {host} (region {name}'s nodes) and its nodePorts"
        return RegionReach(name, Reach(host, own.node_ports, "NodePort", through), through)
    return RegionReach(name, None, note)


@dataclass(frozen=True)
class PlaybackBase:
    """The base URL players use (the HLS and screenshot paths follow it), and what it goes through."""

    url: str
    exposure: PlaybackExposure
    reachable_from: str


@dataclass(frozen=True)
class WebRtcAdvertise:
    """What the WebRTC component announces in its ICE candidates instead of its own address."""

    hosts: tuple[str, ...] = ()
    udp_port: int | None = None
    tcp_port: int | None = None


def webrtc_advertise(reach: Reach, addresses: Sequence[str] = ()) -> WebRtcAdvertise:
    """WebRTC peers reach the media ports where encoders reach the push ports: a LoadBalancer's
    address, or the nodes' externalHost with the Service's nodePorts. With host networking or
    ClusterIP the Pod's own address is the right one, so nothing is rewritten. `addresses`
    (spec.ingest.webrtc.advertiseAddresses) replace the host, never the ports the exposure maps."""
    external = reach.exposure in ("LoadBalancer", "NodePort")
    hosts = tuple(addresses) or ((reach.host,) if external else ())
    if not hosts:
        return WebRtcAdvertise()
    ports = reach.ports if external else {}
    return WebRtcAdvertise(hosts, ports.get("webrtc-udp"), ports.get("webrtc-tcp"))
