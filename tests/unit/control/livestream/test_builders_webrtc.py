"""WebRTC on the control plane (issue 26): which ingest runs the component, its ports on the Pod and
the Service, the address its ICE candidates announce (from the exposure the push URLs use), the URLs
status shows (pushUrlWhip, whepUrl) and the WebRtcPlayable condition."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

from devtools.catalog import livestream, stored_livestream
from devtools.fake_kube import FakeKubeApi
from streamops.contract.ingest import IngestConfig, IngestStatus, WebRtcStatus
from streamops.control.livestream.exposure import ServiceObservation, WebRtcAdvertise, ingest_reach, webrtc_advertise
from streamops.control.livestream.playability import webrtc_playability
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.livestream.specs.urls import reach_inputs
from streamops.control.livestream.status import (
    IngestObservation,
    PodObservation,
    livestream_events,
    livestream_status,
    publisher_refusal_events,
)
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS

NS = "media"
T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()
NODE_PORT = OperatorSettings(ingest_service_type="NodePort", external_host="203.0.113.7")


stream = partial(stored_livestream, uid="uid-1", generation=1)


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def service_body(type_: str, node_ports: dict[str, int] | None = None, lb: str = "") -> dict[str, Any]:
    ports = [
        {"name": n, "port": p, **({"nodePort": node_ports[n]} if node_ports and n in node_ports else {})}
        for n, p in POD_NETWORK_PORTS.items()
    ]
    status = {"loadBalancer": {"ingress": [{"ip": lb}]}} if lb else {}
    return {"metadata": {"name": "cam-ingest"}, "spec": {"type": type_, "ports": ports}, "status": status}


# --- which ingest runs WebRTC -----------------------------------------------------------------------


def test_whep_is_on_by_default_for_every_source_and_the_primary_only():
    for source in ({"push": {"protocols": ["rtmp"], "backup": True}}, {"pull": {"urls": ["rtmp://o.example/l/a"]}}):
        s = stream(source=source)
        primary = config(ingest_pod(s, "primary", SETTINGS))
        assert primary.webrtc is not None and primary.webrtc.whep and primary.webrtc.ice_tcp
        assert (primary.ports.webrtc_udp, primary.ports.webrtc_tcp) == (8189, 8190)
        env = ingest_pod(s, "primary", SETTINGS)["spec"]["containers"][0]["env"]
        assert {"name": "STREAMOPS_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in env
    backup = config(ingest_pod(stream(source={"push": {"protocols": ["rtmp"], "backup": True}}), "backup", SETTINGS))
    assert backup.webrtc is None and backup.ports.webrtc_udp is None


def test_the_operator_default_and_the_streams_choice():
    off = OperatorSettings(webrtc_playback=False)
    assert config(ingest_pod(stream(), "primary", off)).webrtc is None
    pod = ingest_pod(stream(), "primary", off)
    assert "STREAMOPS_POD_IP" not in json.dumps(pod), "no WebRTC: the Pod is what it was before WebRTC existed"
    assert config(ingest_pod(stream(playback={"webrtc": {"enabled": True}}), "primary", off)).webrtc is not None
    assert config(ingest_pod(stream(playback={"webrtc": {"enabled": False}}), "primary", SETTINGS)).webrtc is None
    # WHIP needs the component whatever WHEP is: it runs without WHEP's feed.
    whip = config(ingest_pod(stream(source={"push": {"protocols": ["whip"]}}), "primary", off))
    assert whip.webrtc is not None and not whip.webrtc.whep


def test_whip_stays_off_the_backups_configuration():
    s = stream(source={"push": {"protocols": ["rtmp", "whip"], "backup": True}})
    assert config(ingest_pod(s, "primary", SETTINGS)).source.push.protocols == ["rtmp", "whip"]  # type: ignore[union-attr]
    assert config(ingest_pod(s, "backup", SETTINGS)).source.push.protocols == ["rtmp"]  # type: ignore[union-attr]


def test_b_frames_policy_and_ice_tcp_reach_the_worker():
    s = stream(playback={"webrtc": {"bFrames": "refuse"}}, ingest={"webrtc": {"iceTcp": False}})
    pod = ingest_pod(s, "primary", SETTINGS)
    webrtc = config(pod).webrtc
    assert webrtc is not None and webrtc.b_frames == "refuse" and not webrtc.ice_tcp
    assert config(pod).ports.webrtc_tcp is None
    assert [p["name"] for p in pod["spec"]["containers"][0]["ports"] if p["name"].startswith("webrtc")] == [
        "webrtc-udp"
    ]


# --- the Service ------------------------------------------------------------------------------------


def test_service_carries_both_media_ports_and_their_fixed_node_ports():
    s = stream(ingest={"service": {"type": "NodePort", "nodePorts": {"webrtcUdp": 31189, "webrtcTcp": 31190}}})
    ports = {p["name"]: p for p in ingest_service(s, "primary", SETTINGS)["spec"]["ports"]}
    assert ports["webrtc-udp"] == {
        "name": "webrtc-udp",
        "port": 8189,
        "targetPort": "webrtc-udp",
        "protocol": "UDP",
        "nodePort": 31189,
    }
    assert ports["webrtc-tcp"]["protocol"] == "TCP" and ports["webrtc-tcp"]["nodePort"] == 31190


# --- what the candidates announce -------------------------------------------------------------------


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
    host = OperatorSettings(host_network=True)
    assert webrtc_advertise(reach(None, host, {"http": 30001, "webrtc-udp": 30002})) == WebRtcAdvertise()


def test_advertise_addresses_replace_the_host_never_the_ports():
    service = service_body("NodePort", {"webrtc-udp": 31189, "webrtc-tcp": 31190})
    assert webrtc_advertise(reach(service), ["192.0.2.50"]) == WebRtcAdvertise(("192.0.2.50",), 31189, 31190)
    assert webrtc_advertise(reach(service_body("ClusterIP"), SETTINGS), ["192.0.2.50"]) == WebRtcAdvertise(
        ("192.0.2.50",)
    )


def test_a_new_streams_ingest_starts_with_its_allocated_node_ports_announced():
    """The Service is created before the Pod in one reconcile; the Pod's configuration carries the
    nodePorts the API server allocated (here the fake API server's), so no second Pod follows."""
    api = FakeKubeApi()
    body = api.add({**livestream("cam"), "metadata": {"name": "cam", "namespace": NS, "uid": "uid-1", "generation": 1}})
    reconcile_livestream(api, NODE_PORT, body)
    service = api.object("Service", NS, "cam-ingest")
    node_ports = {p["name"]: p.get("nodePort") for p in service["spec"]["ports"]}
    webrtc = config(api.object("Pod", NS, "cam-ingest")).webrtc
    assert webrtc is not None and webrtc.advertise_hosts == ["203.0.113.7"]
    assert (webrtc.advertise_udp_port, webrtc.advertise_tcp_port) == (
        node_ports["webrtc-udp"],
        node_ports["webrtc-tcp"],
    )


# --- status -------------------------------------------------------------------------------------------


def observed(telemetry: IngestStatus | None = None, settings: OperatorSettings = SETTINGS) -> IngestObservation:
    running = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    return IngestObservation(
        {"primary": PodObservation.of("cam-ingest", running)},
        telemetry={"primary": telemetry} if telemetry else {},
        settings=settings,
    )


def test_status_shows_whip_and_whep_urls_where_the_http_face_is_reached():
    s = stream(source={"push": {"protocols": ["rtmp", "whip"]}})
    # WHIP's bearer is the key: an http:// WHIP URL only where the admin allows plain HTTP (issue 37).
    https_only = livestream_status(s, observed(), T0)
    assert https_only.ingest is not None and https_only.ingest.push_url_whip is None
    status = livestream_status(s, observed(settings=SETTINGS.model_copy(update={"publish_over_http": True})), T0)
    assert status.ingest is not None and status.ingest.push_url_whip == "http://cam-ingest.media.svc:8080/whip"
    assert status.playback is not None and status.playback.whep_url == "http://cam-ingest.media.svc:8080/whep"
    assert "key" not in status.ingest.push_url_whip.lower()
    plain = livestream_status(stream(), observed(), T0)
    assert plain.ingest is not None and plain.ingest.push_url_whip is None, "no whip protocol, no WHIP URL"
    off = livestream_status(stream(playback={"webrtc": {"enabled": False}}), observed(), T0)
    assert off.playback is not None and off.playback.whep_url is None
    assert off.condition("WebRtcPlayable") is None


def test_webrtc_playable_follows_the_components_word():
    def live(**webrtc: Any) -> IngestStatus:
        return IngestStatus(live=True, webrtc=WebRtcStatus(running=True, **webrtc))

    cases = [
        (None, "Unknown", "NoMedia"),
        (IngestStatus(live=True), "Unknown", "NotReported"),
        (IngestStatus(live=True, webrtc=WebRtcStatus(running=False)), "False", "ComponentUnavailable"),
        (live(whep_live=True), "True", "Served"),
        (live(whep_live=True, whep_transcoded=True), "True", "BFramesTranscoded"),
        (live(whep_problem="the source has B-frames"), "False", "BFramesRefused"),
        (live(), "Unknown", "Waiting"),
    ]
    for telemetry, status_, reason in cases:
        condition = webrtc_playability(telemetry)
        assert (condition.status, condition.reason) == (status_, reason), telemetry
    status = livestream_status(stream(), observed(live(whep_live=True)), T0)
    playable = status.condition("WebRtcPlayable")
    assert playable is not None and playable.status == "True"


def test_refused_whip_offers_become_one_warning_per_look():
    def seen(refused: int, last: str | None = None) -> IngestStatus:
        return IngestStatus(live=False, webrtc=WebRtcStatus(running=True, whip_refused=refused, last_whip_refusal=last))

    assert publisher_refusal_events(None, seen(0)) == []
    [event] = publisher_refusal_events(seen(0), seen(3, "401 the bearer token is not this stream's key"))
    assert (event.type, event.reason) == ("Warning", "WhipPublisherRefused")
    assert event.message == "3 WHIP offers refused; the last answer: 401 the bearer token is not this stream's key"
    assert publisher_refusal_events(seen(3), seen(3, "401 …")) == [], "nothing new: no Event"
    [restarted] = publisher_refusal_events(seen(5), seen(1, "409 another publisher (rtmp) is live"))
    assert restarted.message.startswith("1 WHIP offer refused"), "a restarted worker counts from 0"


def test_webrtc_not_playable_is_a_warning_once():
    refused = IngestStatus(live=True, webrtc=WebRtcStatus(running=True, whep_problem="the source has B-frames"))
    s = stream()
    first = livestream_status(s, observed(refused), T0)
    events = livestream_events(None, first)
    assert [e.reason for e in events if e.type == "Warning"] == ["WebRtcNotPlayable"]
    again = livestream_status(s.model_copy(update={"status": first}), observed(refused), T0)
    assert [e for e in livestream_events(first, again) if e.reason == "WebRtcNotPlayable"] == []
