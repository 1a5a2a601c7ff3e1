"""The address WebRTC's ICE candidates announce (exposure.webrtc_advertise), from the exposure the
push URLs use: the Service's type, its nodePorts or load balancer, the admin's advertise addresses."""

from __future__ import annotations

from functools import partial
from typing import Any

from devtools.catalog import stored_livestream
from streamops.control.livestream.exposure import ServiceObservation, WebRtcAdvertise, ingest_reach, webrtc_advertise
from streamops.control.livestream.specs.urls import reach_inputs
from streamops.control.shared.settings import IngestSettings, OperatorSettings, WorkerSettings
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS

SETTINGS = OperatorSettings()
NODE_PORT = OperatorSettings(ingest=IngestSettings(service_type="NodePort", external_host="203.0.113.7"))


stream = partial(stored_livestream, uid="uid-1", generation=1)


def service_body(type_: str, node_ports: dict[str, int] | None = None, lb: str = "") -> dict[str, Any]:
    ports = [
        {"name": n, "port": p, **({"nodePort": node_ports[n]} if node_ports and n in node_ports else {})}
        for n, p in POD_NETWORK_PORTS.items()
    ]
    status = {"loadBalancer": {"ingress": [{"ip": lb}]}} if lb else {}
    return {"metadata": {"name": "cam-ingest"}, "spec": {"type": type_, "ports": ports}, "status": status}


def reach(service: dict[str, Any] | None, settings: OperatorSettings = NODE_PORT, host_ports: Any = None) -> Any:
    return ingest_reach(ServiceObservation.of(service), reach_inputs(stream(), "primary", settings, host_ports))


def test_a_node_port_announces_the_external_host_and_the_node_ports():
    service = service_body("NodePort", {"http": 31080, "webrtc-udp": 31189, "webrtc-tcp": 31190})
    assert webrtc_advertise(reach(service)) == WebRtcAdvertise(("203.0.113.7",), 31189, 31190)


def test_a_load_balancer_announces_its_address_and_the_service_ports():
    service = service_body("LoadBalancer", {"webrtc-udp": 31189}, lb="198.51.100.9")
    assert webrtc_advertise(reach(service)) == WebRtcAdvertise(("198.51.100.9",), 8189, 8190)


def test_cluster_ip_and_host_network_announce_the_pods_own_address():
    assert webrtc_advertise(reach(service_body("ClusterIP"), SETTINGS)) == WebRtcAdvertise()
    host = OperatorSettings(worker=WorkerSettings(host_network=True))
    assert webrtc_advertise(reach(None, host, {"http": 30001, "webrtc-udp": 30002})) == WebRtcAdvertise()


def test_advertise_addresses_replace_the_host_never_the_ports():
    service = service_body("NodePort", {"webrtc-udp": 31189, "webrtc-tcp": 31190})
    assert webrtc_advertise(reach(service), ["192.0.2.50"]) == WebRtcAdvertise(("192.0.2.50",), 31189, 31190)
    assert webrtc_advertise(reach(service_body("ClusterIP"), SETTINGS), ["192.0.2.50"]) == WebRtcAdvertise(
        ("192.0.2.50",)
    )
