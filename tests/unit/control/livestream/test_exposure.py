"""Reaching streams from outside the cluster: the ingest Service's type and options, the URLs status
shows (and from where they work), the playback Ingress/HTTPRoute, and what the operator does when
the API server refuses one of them (docs/design/exposure.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from devtools.catalog import livestream, stored_livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from pydantic import ValidationError
from streamops.api import LiveStream
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.exposure import ReachInputs, ServiceObservation, ingest_reach
from streamops.control.livestream.loop_observe import observed_region_services, observed_services
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.route_events import playback_route_wake
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.route import playback_http_route, playback_ingress, playback_route
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.livestream.status import IngestObservation, PodObservation, livestream_status
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import IngestRegion, IngestSettings, OperatorSettings, PlaybackSettings
from streamops.control.workers.children import ensure_service
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS
from streamops.kube.naming import HOST_PORTS_ANNOTATION, PLAYBACK_ROUTE_ANNOTATION, SPEC_HASH_ANNOTATION

NS = "media"
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="uid-1", generation=1)


def service_body(type_: str, node_ports: dict[str, int] | None = None, lb: dict[str, str] | None = None) -> dict:
    ports = [
        {"name": n, "port": p, **({"nodePort": node_ports[n]} if node_ports and n in node_ports else {})}
        for n, p in POD_NETWORK_PORTS.items()
    ]
    return {
        "metadata": {"name": "cam-ingest"},
        "spec": {"type": type_, "ports": ports},
        "status": {"loadBalancer": {"ingress": [lb]} if lb else {}},
    }


GIVEN = ReachInputs("cam-ingest.media.svc", POD_NETWORK_PORTS, external_host="203.0.113.7")
NODE_PORTS = {"http": 31080, "rtmp": 31935, "srt": 31998}


# --- where URLs point -----------------------------------------------------------------------------


def test_load_balancer_address_first_with_the_service_ports():
    reach = ingest_reach(ServiceObservation.of(service_body("LoadBalancer", NODE_PORTS, {"ip": "198.51.100.9"})), GIVEN)
    assert (reach.host, reach.ports["rtmp"], reach.exposure) == ("198.51.100.9", 1935, "LoadBalancer")
    reach = ingest_reach(ServiceObservation.of(service_body("LoadBalancer", lb={"hostname": "lb.example"})), GIVEN)
    assert reach.host == "lb.example"


def test_load_balancer_without_address_says_so_and_falls_back_to_node_ports_or_in_cluster():
    pending = ServiceObservation.of(service_body("LoadBalancer", NODE_PORTS))
    reach = ingest_reach(pending, GIVEN)
    assert (reach.host, reach.ports, reach.exposure) == ("203.0.113.7", NODE_PORTS, "NodePort")
    assert "no address yet" in reach.reachable_from
    reach = ingest_reach(pending, ReachInputs("cam-ingest.media.svc", POD_NETWORK_PORTS))
    assert (reach.host, reach.ports["rtmp"], reach.exposure) == ("cam-ingest.media.svc", 1935, "ClusterIP")
    assert "no address yet" in reach.reachable_from and "inside the cluster only" in reach.reachable_from


def test_node_port_needs_the_external_host_to_be_shown_as_urls():
    node_port = ServiceObservation.of(service_body("NodePort", NODE_PORTS))
    assert ingest_reach(node_port, GIVEN).ports == NODE_PORTS
    reach = ingest_reach(node_port, ReachInputs("cam-ingest.media.svc", POD_NETWORK_PORTS))
    assert reach.exposure == "ClusterIP" and "31935" in reach.reachable_from, "the nodePorts are named, not faked"
    # Not allocated yet (the Service was just created): no NodePort URL either.
    assert ingest_reach(ServiceObservation.of(service_body("NodePort")), GIVEN).exposure == "ClusterIP"


def test_host_network_uses_the_ingest_pods_node_and_the_override_stays_an_override():
    ports = {"http": 40001, "rtmp": 40002, "srt": 40003, "internal": 40004}
    given = ReachInputs("cam-ingest.media.svc", POD_NETWORK_PORTS, host_network=True, host_ports=ports)
    reach = ingest_reach(None, ReachInputs(**{**given.__dict__, "pod_host_ip": "10.0.0.12"}))
    assert (reach.host, reach.ports, reach.exposure) == ("10.0.0.12", ports, "HostNetwork")
    assert ingest_reach(None, given).exposure == "ClusterIP", "no node yet: in-cluster, not a guess"
    override = ingest_reach(None, ReachInputs(**{**given.__dict__, "worker_address": "127.0.0.1"}))
    assert (override.host, override.exposure) == ("127.0.0.1", "HostNetwork")
    # A stream's own LoadBalancer wins over the one-address override.
    lb = ServiceObservation.of(service_body("LoadBalancer", lb={"ip": "198.51.100.9"}))
    assert ingest_reach(lb, ReachInputs(**{**given.__dict__, "worker_address": "127.0.0.1"})).exposure == "LoadBalancer"
    ipv6 = ingest_reach(None, ReachInputs(**{**given.__dict__, "pod_host_ip": "fd00::5"}))
    assert ipv6.url_host == "[fd00::5]"


def test_status_follows_the_observed_service():
    s = stream()
    running = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    settings = OperatorSettings(ingest=IngestSettings(external_host="203.0.113.7"))

    def status(service: dict) -> Any:
        observed = IngestObservation(
            {"primary": PodObservation.of("cam-ingest", running)},
            services={"primary": ServiceObservation.of(service)},  # type: ignore[dict-item]
            settings=settings,
        )
        return livestream_status(s, observed, T0)

    nodeport = status(service_body("NodePort", NODE_PORTS))
    assert nodeport.ingest.push_url == "rtmp://203.0.113.7:31935/live"
    assert nodeport.ingest.push_url_srt == "srt://203.0.113.7:31998"
    assert nodeport.ingest.exposure == "NodePort" and nodeport.playback.exposure == "NodePort"
    assert nodeport.playback.hls_cmaf_url == "http://203.0.113.7:31080/hls/cmaf/index.m3u8"
    lb = status(service_body("LoadBalancer", NODE_PORTS, {"ip": "198.51.100.9"}))
    assert lb.ingest.push_url == "rtmp://198.51.100.9:1935/live" and lb.ingest.exposure == "LoadBalancer"
    assert "Stalled" not in {c.type for c in lb.conditions}


def test_regional_ingest_points_are_each_region_s_host_with_the_service_s_node_ports():
    """docs/design/exposure.md, "Regional ingest points": the primary's nodePorts at each region's host,
    in the operator's order, beside the default URLs (unchanged); none for a ClusterIP Service."""
    s = stream(source={"push": {"protocols": ["rtmp", "srt", "rtmps"], "tls": {"secretName": "t"}}})
    running = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    regions = [IngestRegion(name="eu-west", external_host="ingest-eu.example.com"),
               IngestRegion(name="us-east", external_host="198.51.100.20")]  # fmt: skip
    settings = OperatorSettings(ingest=IngestSettings(external_host="203.0.113.7", regions=regions))

    def status(service: dict) -> Any:
        observed = IngestObservation(
            {"primary": PodObservation.of("cam-ingest", running)},
            services={"primary": ServiceObservation.of(service)},  # type: ignore[dict-item]
            settings=settings,
        )
        return livestream_status(s, observed, T0).ingest

    node_ports = {**NODE_PORTS, "rtmps": 31443}
    ingest = status(service_body("NodePort", node_ports))
    assert ingest.push_url == "rtmp://203.0.113.7:31935/live", "the default, unchanged"
    assert [r.name for r in ingest.regions] == ["eu-west", "us-east"]
    eu, us = ingest.regions
    assert (eu.push_url, eu.push_url_srt) == (
        "rtmp://ingest-eu.example.com:31935/live",
        "srt://ingest-eu.example.com:31998",
    )
    assert us.push_url == "rtmp://198.51.100.20:31935/live"
    assert "region us-east" in us.reachable_from
    # A LoadBalancer's address is the default; its nodePorts serve the regions.
    lb = status(service_body("LoadBalancer", node_ports, {"ip": "198.51.100.9"}))
    assert lb.push_url == "rtmp://198.51.100.9:1935/live" and lb.regions[0].push_url.endswith(":31935/live")
    assert status(service_body("ClusterIP")).regions is None, "inside the cluster only: no region"
    (waiting, _) = status(service_body("NodePort")).regions
    assert waiting.push_url is None and "no nodePorts yet" in waiting.reachable_from, "said, not faked"
    assert "push_url_whip" not in eu.model_dump(), "WHIP is the default URL's only"
    local = service_body("NodePort", node_ports)
    local["spec"]["externalTrafficPolicy"] = "Local"
    assert "only while the ingest Pod runs on one of them" in status(local).regions[0].reachable_from


def lb_region(name: str, host: str = "", **service: Any) -> IngestRegion:
    return IngestRegion.model_validate(
        {"name": name, "externalHost": host, "service": {"type": "LoadBalancer", **service}}
    )


def test_a_load_balancer_region_is_its_own_services_address_else_its_host_and_node_ports_else_said():
    """A LoadBalancer region's URLs: its own Service's load balancer address and ports (RTMPS 443);
    while it has none, its host with that Service's nodePorts, or only why; none before it exists."""
    s = stream(source={"push": {"protocols": ["rtmp", "srt", "rtmps"], "tls": {"secretName": "t"}}})
    settings = OperatorSettings(
        ingest=IngestSettings(regions=[lb_region("eu", "ingest-eu.example.com"), lb_region("us")])
    )
    region_ports = {"rtmp": 1935, "rtmps": 443, "srt": 9998}

    def region_body(name: str, lb: dict[str, str] | None = None) -> dict:
        ports = [{"name": n, "port": p, "nodePort": 32000 + i} for i, (n, p) in enumerate(region_ports.items())]
        return {
            "metadata": {"name": name},
            "spec": {"type": "LoadBalancer", "ports": ports},
            "status": {"loadBalancer": {"ingress": [lb]} if lb else {}},
        }

    def regions(own: dict[str, dict], refused: dict[str, str] | None = None) -> Any:
        observed = IngestObservation(
            {},
            services={"primary": ServiceObservation.of(service_body("NodePort", NODE_PORTS))},  # type: ignore[dict-item]
            region_services={r: ServiceObservation.of(b) for r, b in own.items()},  # type: ignore[misc]
            region_rejected=refused or {},
            settings=settings,
        )
        return livestream_status(s, observed, T0).ingest.regions  # type: ignore[union-attr]

    eu, us = regions({"eu": region_body("cam-ingest-region-eu", {"ip": "198.51.100.30"})})
    assert (eu.push_url, eu.push_url_rtmps, eu.push_url_srt, eu.exposure) == (
        "rtmp://198.51.100.30:1935/live",
        "rtmps://198.51.100.30:443/live",
        "srt://198.51.100.30:9998",
        "LoadBalancer",
    )
    assert us.push_url is None and us.exposure is None and "not created yet" in us.reachable_from
    eu, us = regions(
        {"eu": region_body("cam-ingest-region-eu"), "us": region_body("cam-ingest-region-us")},
        refused={"us": "Service cam-ingest-region-us refused: forbidden"},
    )
    assert (eu.push_url, eu.exposure) == ("rtmp://ingest-eu.example.com:32000/live", "NodePort")
    assert "no address yet" in eu.reachable_from and "ingest-eu.example.com" in eu.reachable_from
    assert us.push_url is None and "no address yet" in us.reachable_from, "no host to fall back to: said"
    (_, refused) = regions({"eu": region_body("cam-ingest-region-eu")}, refused={"us": "Service x refused: no"})
    assert refused.reachable_from.startswith("Service x refused: no; ") and "not created yet" in refused.reachable_from
    # A refused patch (an immutable loadBalancerClass changed) is said before the address it still has.
    (eu, _) = regions(
        {"eu": region_body("cam-ingest-region-eu", {"ip": "198.51.100.30"})}, refused={"eu": "Service y refused: no"}
    )
    assert eu.push_url == "rtmp://198.51.100.30:1935/live" and eu.reachable_from.startswith("Service y refused: no; ")


# --- the ingest Service ---------------------------------------------------------------------------


def test_service_type_and_options_from_the_stream_over_the_operators_defaults():
    defaults = OperatorSettings(
        ingest=IngestSettings(service_type="NodePort", service_annotations={"a": "operator", "b": "operator"})
    )
    svc = ingest_service(stream(), "primary", defaults)
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["externalTrafficPolicy"] == "Cluster"
    assert svc["metadata"]["annotations"]["a"] == "operator"
    own = {"type": "LoadBalancer", "annotations": {"b": "stream"}, "loadBalancerClass": "example.com/lb",
           "externalTrafficPolicy": "Local", "nodePorts": {"rtmp": 30935}}  # fmt: skip
    s = stream(source={"push": {"backup": True}}, ingest={"service": own})
    svc = ingest_service(s, "primary", defaults)
    assert svc["spec"]["type"] == "LoadBalancer" and svc["spec"]["loadBalancerClass"] == "example.com/lb"
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    assert svc["metadata"]["annotations"]["b"] == "stream"
    assert {p["name"]: p.get("nodePort") for p in svc["spec"]["ports"]}["rtmp"] == 30935
    backup = ingest_service(s, "backup", defaults)
    assert all("nodePort" not in p for p in backup["spec"]["ports"]), "two Services cannot hold one nodePort"
    # RTMP (TCP), SRT (UDP) and WebRTC's two (WHEP is on by default) in one Service.
    protocols = {p["name"]: p["protocol"] for p in svc["spec"]["ports"]}
    assert protocols == {"http": "TCP", "rtmp": "TCP", "srt": "UDP", "webrtc-udp": "UDP", "webrtc-tcp": "TCP"}
    assert {p["name"] for p in backup["spec"]["ports"]} == {"http", "rtmp", "srt"}, "WebRTC is the primary's only"
    assert "externalTrafficPolicy" not in ingest_service(stream(), "primary", SETTINGS)["spec"]


@pytest.mark.parametrize(
    "service, says",
    [
        ({"nodePorts": {"rtmp": 30935}}, "nodePorts needs type NodePort or LoadBalancer"),
        ({"type": "NodePort", "loadBalancerClass": "x"}, "loadBalancerClass needs type LoadBalancer"),
        ({"type": "ClusterIP", "externalTrafficPolicy": "Local"}, "externalTrafficPolicy needs"),
        ({"type": "NodePort", "nodePorts": {"rtmp": 70000}}, "less than or equal to 65535"),
    ],
)
def test_service_options_that_cannot_work_are_refused(service: dict, says: str):
    with pytest.raises(ValidationError, match=says):
        stream(ingest={"service": service})


def watched_api() -> FakeKubeApi:
    api = operator_view()
    return api


def test_changing_the_type_patches_the_service_in_place_and_keeps_the_host_ports():
    api = watched_api()
    ports = {"http": 40001, "rtmp": 40002, "srt": 40003, "internal": 40004}
    s = stream(ingest={"service": {"annotations": {"lb.example/a": "1"}}})
    api.create(ingest_service(s, "primary", SETTINGS, ports))
    uid = api.object("Service", NS, "cam-ingest")["metadata"]["uid"]  # type: ignore[index]
    node_port = stream(ingest={"service": {"type": "NodePort"}})
    ensure_service(
        api, ingest_service(node_port, "primary", SETTINGS, ports), api.get("Service", NS, "cam-ingest"), "uid-1"
    )
    after = api.object("Service", NS, "cam-ingest")
    assert after is not None and after["metadata"]["uid"] == uid, "patched, not re-created"
    assert after["spec"]["type"] == "NodePort"
    assert json.loads(after["metadata"]["annotations"][HOST_PORTS_ANNOTATION]) == ports
    assert "lb.example/a" not in after["metadata"]["annotations"], "an annotation dropped from the spec goes"
    # The server allocated nodePorts: they are kept by later patches, and nothing drifts.
    api.modify("Service", NS, "cam-ingest", {"spec": {"ports": [
        {**p, "nodePort": 31000 + i} for i, p in enumerate(after["spec"]["ports"])]}})  # fmt: skip
    api.clear_calls()
    ensure_service(
        api, ingest_service(node_port, "primary", SETTINGS, ports), api.get("Service", NS, "cam-ingest"), "uid-1"
    )
    assert api.writes == [], "allocated nodePorts and server defaults are no drift"
    back = ingest_service(stream(), "primary", SETTINGS, ports)
    ensure_service(api, back, api.get("Service", NS, "cam-ingest"), "uid-1")
    [patch] = [c.body for c in api.writes]
    assert patch["spec"]["type"] == "ClusterIP" and all("nodePort" not in p for p in patch["spec"]["ports"])
    assert patch["spec"]["externalTrafficPolicy"] is None


# --- playback routes ------------------------------------------------------------------------------


def test_the_ingest_serves_under_the_routes_path_even_before_a_route_exists():
    plain, routed = stream(), stream(playback={"ingress": {"host": "tv.example"}})
    config = [
        json.loads(ingest_pod(s, "primary", SETTINGS)["spec"]["containers"][0]["env"][0]["value"])
        for s in (plain, routed)
    ]
    assert IngestConfig.model_validate(config[0]).path_prefix == "/streams/media/cam"
    assert (
        ingest_pod(plain, "primary", SETTINGS)["metadata"]["annotations"]
        == ingest_pod(routed, "primary", SETTINGS)["metadata"]["annotations"]
    ), "adding an Ingress does not restart a live ingest"


def test_ingress_is_a_prefix_route_to_the_primary_ingest_and_status_shows_https():
    s = stream(playback={"ingress": {"host": "tv.example", "tlsSecretName": "tv-tls", "className": "traefik"}})
    route = playback_route(s, SETTINGS)
    assert route is not None
    ingress = playback_ingress(s, route)
    assert ingress["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert ingress["spec"]["ingressClassName"] == "traefik"
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "tv.example"
    backend = {"service": {"name": "cam-ingest", "port": {"name": "http"}}}
    assert rule["http"]["paths"] == [{"path": "/streams/media/cam", "pathType": "Prefix", "backend": backend}]
    assert ingress["spec"]["tls"] == [{"hosts": ["tv.example"], "secretName": "tv-tls"}]
    status = livestream_status(s, IngestObservation({}), T0)
    assert status.playback.hls_cmaf_url == "https://tv.example/streams/media/cam/hls/cmaf/index.m3u8"
    # The player page and its media go through the same route: one prefix, no rewriting.
    assert status.playback.player_url == "https://tv.example/streams/media/cam/player"
    assert status.playback.dash_url is None, "dash is off by default"
    assert status.playback.exposure == "Ingress"
    assert status.ingest.exposure == "ClusterIP", "the Ingress carries HTTP only; pushes go to the Service"


def test_chart_defaults_give_every_stream_a_route_and_a_stream_can_opt_out():
    settings = OperatorSettings(
        playback=PlaybackSettings(
            http_route_enabled=True,
            http_route_parent_refs=[{"name": "web", "namespace": "gateways"}],
            http_route_hostnames=["tv.example"],
        )
    )
    route = playback_route(stream(), settings)
    assert route is not None and route.kind == "HTTPRoute" and route.host == "tv.example"
    manifest = playback_http_route(stream(), route, 8080)
    assert manifest["spec"]["parentRefs"] == [{"name": "web", "namespace": "gateways"}]
    assert manifest["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/streams/media/cam"}}]
    assert manifest["spec"]["rules"][0]["backendRefs"] == [{"name": "cam-ingest", "port": 8080}]
    assert playback_route(stream(playback={"httpRoute": {"enabled": False}}), settings) is None
    with pytest.raises(ValidationError, match="at most one"):
        stream(playback={"ingress": {}, "httpRoute": {}})


def test_settings_read_maps_and_lists_as_json():
    settings = OperatorSettings.from_env(
        {
            "STREAMOPS_INGEST_SERVICE_ANNOTATIONS": '{"a": "b"}',
            "STREAMOPS_PLAYBACK_HTTP_ROUTE_PARENT_REFS": '[{"name": "web"}]',
            "STREAMOPS_PLAYBACK_HTTP_ROUTE_HOSTNAMES": "",
        }
    )
    assert settings.ingest.service_annotations == {"a": "b"}
    assert settings.playback.http_route_parent_refs == [{"name": "web"}]
    assert settings.playback.http_route_hostnames == []


# --- refusals -------------------------------------------------------------------------------------


def reconcile(api: FakeKubeApi, settings: OperatorSettings = SETTINGS) -> Any:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    return reconcile_livestream(api, settings, body, None, auto_recording_exists=False)


def put(api: FakeKubeApi, **spec: Any) -> None:
    body = livestream("cam", **spec)
    body["metadata"]["namespace"] = NS
    api.add(body)


def test_a_refused_service_stalls_the_stream_and_the_ingest_still_runs():
    api = watched_api()
    put(api, ingest={"service": {"type": "NodePort", "nodePorts": {"rtmp": 1935}}})
    message = json.dumps({
        "kind": "Status", "reason": "Invalid", "code": 422,
        "message": 'Service "cam-ingest" is invalid: spec.ports[1].nodePort: Invalid value: 1935: provided port is '
        "not in the valid range. The range of valid ports is 30000-32767",
    })  # fmt: skip
    api.fail("create", "Service", "cam-ingest", status=422, body=message)
    outcome = reconcile(api)
    assert outcome.service_rejected and "not in the valid range" in outcome.service_rejected
    assert api.names("Pod") == ["cam-ingest"], "the ingest Pod is created anyway"
    s = LiveStream.model_validate(api.object("LiveStream", NS, "cam"))
    status = livestream_status(s, IngestObservation({}, service_rejected=outcome.service_rejected), T0)
    stalled = status.condition("Stalled")
    assert stalled is not None and stalled.status == "True" and stalled.reason == "ServiceRejected"
    assert "30000-32767" in (stalled.message or "")
    assert status.condition("Ready").status == "False"  # type: ignore[union-attr]
    # Once accepted (the spec or the cluster changed), the next reconcile says nothing more.
    assert reconcile(api).service_rejected is None


def test_load_balancer_regions_get_services_to_the_primary_recorded_on_it_and_removed_regions_lose_them():
    """A LoadBalancer region is one more Service per external push stream, to the primary ingest Pod,
    public push ports only, recorded on the primary Service; a region the operator no longer lists
    (or a stream that is no longer external) has its Service deleted; a refused one is said, the
    stream goes on; NodePort regions and ClusterIP streams make none."""
    api = watched_api()
    put(api, source={"push": {"protocols": ["rtmp", "srt"], "backup": True}})
    two = [lb_region("eu", loadBalancerClass="lb.example/zonal", annotations={"zone": "eu-1"}), lb_region("us")]
    nodes = IngestRegion(name="lan", external_host="10.0.0.9")
    settings = OperatorSettings(
        ingest=IngestSettings(service_type="NodePort", external_host="203.0.113.7", regions=[*two, nodes])
    )
    assert reconcile(api, settings).region_rejected == {}
    regional = sorted(n for n in api.names("Service") if "region" in n)
    assert regional == ["cam-ingest-region-eu", "cam-ingest-region-us"], "no Service for a NodePort region"
    eu = api.object("Service", NS, "cam-ingest-region-eu")
    pod = api.object("Pod", NS, "cam-ingest")
    assert eu is not None and pod is not None
    assert eu["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), "the primary ingest Pod"
    assert eu["spec"]["type"] == "LoadBalancer" and eu["spec"]["loadBalancerClass"] == "lb.example/zonal"
    assert [(p["name"], p["port"], p["protocol"]) for p in eu["spec"]["ports"]] == [
        ("rtmp", 1935, "TCP"),
        ("srt", 9998, "UDP"),
    ]
    assert eu["metadata"]["annotations"]["zone"] == "eu-1"
    assert eu["metadata"]["ownerReferences"][0]["uid"] == api.object("LiveStream", NS, "cam")["metadata"]["uid"]  # type: ignore[index]
    recorded = api.object("Service", NS, "cam-ingest")["metadata"]["annotations"]  # type: ignore[index]
    assert json.loads(recorded["streaming.streamops.dev/ingest-regions"]) == ["eu", "us"]

    # us no longer listed: its Service goes, the record follows; eu's stays.
    assert (
        reconcile(
            api, settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"regions": [two[0]]})})
        ).region_rejected
        == {}
    )
    assert sorted(n for n in api.names("Service") if "region" in n) == ["cam-ingest-region-eu"]
    recorded = api.object("Service", NS, "cam-ingest")["metadata"]["annotations"]  # type: ignore[index]
    assert json.loads(recorded["streaming.streamops.dev/ingest-regions"]) == ["eu"]

    # Refused: said for the region, the stream's own Service and Pod go on.
    api.fail("create", "Service", "cam-ingest-region-us", status=403, body='{"message": "quota: no more LBs"}')
    outcome = reconcile(api, settings)
    assert outcome.region_rejected == {"us": "Service cam-ingest-region-us refused: quota: no more LBs"}
    assert outcome.service_rejected is None and api.object("Pod", NS, "cam-ingest") is not None

    assert reconcile(api, settings).region_rejected == {}, "accepted the next time: nothing more to say"

    # The loop reads their Services from the watch: a load balancer's address shows as the region's URLs.
    api.modify("Service", NS, "cam-ingest-region-us", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.44"}]}}})
    state = OperatorState(api=api, settings=settings)
    seen = observed_region_services(state, NS, "cam")
    assert sorted(seen) == ["eu", "us"] and seen["us"].load_balancer == "192.0.2.44"
    observed = IngestObservation(
        {}, services=observed_services(state, NS, "cam"), region_services=seen, settings=settings
    )
    status = livestream_status(LiveStream.model_validate(api.object("LiveStream", NS, "cam")), observed, T0)
    by_name = {r.name: r for r in status.ingest.regions}  # type: ignore[union-attr]
    assert list(by_name) == ["eu", "us", "lan"], "the operator's order"
    assert by_name["us"].push_url == "rtmp://192.0.2.44:1935/live" and by_name["us"].exposure == "LoadBalancer"
    assert by_name["eu"].push_url is None and "no address yet" in by_name["eu"].reachable_from  # type: ignore[operator]
    assert by_name["lan"].push_url.startswith("rtmp://10.0.0.9:3")  # type: ignore[union-attr]

    # A ClusterIP stream has no regions: their Services are deleted.
    reconcile(
        api, settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"service_type": "ClusterIP"})})
    )
    assert [n for n in api.names("Service") if "region" in n] == []
    recorded = api.object("Service", NS, "cam-ingest")["metadata"]["annotations"]  # type: ignore[index]
    assert "streaming.streamops.dev/ingest-regions" not in recorded


def test_a_missing_gateway_api_is_a_clear_reason_and_switching_routes_deletes_the_old_one():
    api = watched_api()
    put(api, playback={"httpRoute": {"parentRefs": [{"name": "web"}], "hostnames": ["tv.example"]}})
    api.fail("create", "HTTPRoute", "cam-playback", status=404, body="404 page not found")
    outcome = reconcile(api)
    assert outcome.route_rejected and "does not serve HTTPRoute" in outcome.route_rejected
    assert api.names("Pod") == ["cam-ingest"] and api.names("Service") == ["cam-ingest", "cam-ingest-internal"]
    service = api.object("Service", NS, "cam-ingest")
    assert service["metadata"]["annotations"][PLAYBACK_ROUTE_ANNOTATION] == "HTTPRoute"  # type: ignore[index]
    assert reconcile(api).route_rejected is None and api.names("HTTPRoute") == ["cam-playback"]
    # The stream switches to an Ingress: the HTTPRoute goes, found through the Service's record.
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": {"httpRoute": None, "ingress": {"host": "tv.example"}}}})
    reconcile(api)
    assert api.names("HTTPRoute") == [] and api.names("Ingress") == ["cam-playback"]
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": None}})
    reconcile(api)
    assert api.names("Ingress") == []
    assert PLAYBACK_ROUTE_ANNOTATION not in api.object("Service", NS, "cam-ingest")["metadata"]["annotations"]  # type: ignore[index]


def test_a_route_event_wakes_its_stream_and_a_route_gone_or_without_its_hash_reconciles_it():
    """What a watch event of a playback route does (handlers.playback_route_event): it wakes the
    stream that owns it; one that went away, or lost its spec hash, asks for the reconcile that puts
    it back at once (before, only the resync did, up to 120 s later)."""
    api = watched_api()
    put(api, playback={"ingress": {"host": "tv.example"}})
    reconcile(api)
    ingress = api.object("Ingress", NS, "cam-playback")
    assert ingress is not None
    key = ("LiveStream", NS, "cam")
    # Seen (None: kopf's initial listing), created, changed (e.g. the controller wrote its status).
    for event_type in (None, "ADDED", "MODIFIED"):
        assert playback_route_wake(event_type, ingress) == (key, False), event_type
    assert playback_route_wake("DELETED", ingress) == (key, True)
    # Deleted by hand: the reconcile it asks for creates it again.
    api.delete("Ingress", NS, "cam-playback")
    reconcile(api)
    again = api.object("Ingress", NS, "cam-playback")
    assert again is not None and again["metadata"]["uid"] != ingress["metadata"]["uid"]
    # Its spec hash dropped (an apply or edit without it): the reconcile puts the spec back with it.
    asked = again["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    api.modify("Ingress", NS, "cam-playback", {"metadata": {"annotations": {SPEC_HASH_ANNOTATION: None}}})
    edited = api.object("Ingress", NS, "cam-playback")
    assert playback_route_wake("MODIFIED", edited or {}) == (key, True)
    reconcile(api)
    restored = api.object("Ingress", NS, "cam-playback") or {}
    assert restored["metadata"]["annotations"][SPEC_HASH_ANNOTATION] == asked
    # An HTTPRoute the same way; a route no LiveStream controls wakes nothing.
    s = stream(playback={"httpRoute": {"parentRefs": [{"name": "web"}]}})
    route = playback_route(s, SETTINGS)
    assert route is not None
    http_route = playback_http_route(s, route, POD_NETWORK_PORTS["http"])
    assert playback_route_wake("DELETED", http_route) == (key, True)
    assert playback_route_wake("DELETED", {"metadata": {"name": "cam-playback", "namespace": NS}}) is None


def test_with_the_local_policy_the_url_names_the_node_the_ingest_runs_on():
    """externalTrafficPolicy Local (issue 52): only a node running the ingest Pod answers its nodePorts,
    and it keeps the encoder's address (no SNAT). The URL is that node's (status.hostIP), not the
    operator's externalHost (any node), which was right only under Cluster."""
    local = service_body("NodePort", NODE_PORTS)
    local["spec"]["externalTrafficPolicy"] = "Local"
    on_node_2 = ReachInputs(**{**GIVEN.__dict__, "pod_host_ip": "10.0.0.12"})
    reach = ingest_reach(ServiceObservation.of(local), on_node_2)
    assert (reach.host, reach.ports, reach.exposure) == ("10.0.0.12", NODE_PORTS, "NodePort")
    assert "the node the ingest Pod runs on" in reach.reachable_from and "Local" in reach.reachable_from
    # No node yet: the external host, saying it answers only while the Pod runs there.
    reach = ingest_reach(ServiceObservation.of(local), GIVEN)
    assert reach.host == "203.0.113.7" and "runs on none yet" in reach.reachable_from
    # Without an external host either: the node's address all the same (no other node would answer).
    bare = ReachInputs("cam-ingest.media.svc", POD_NETWORK_PORTS, pod_host_ip="10.0.0.12")
    assert ingest_reach(ServiceObservation.of(local), bare).host == "10.0.0.12"
    # A LoadBalancer without an address yet falls back the same way; Cluster keeps the external host.
    pending = service_body("LoadBalancer", NODE_PORTS)
    pending["spec"]["externalTrafficPolicy"] = "Local"
    assert ingest_reach(ServiceObservation.of(pending), on_node_2).host == "10.0.0.12"
    assert ingest_reach(ServiceObservation.of(service_body("NodePort", NODE_PORTS)), on_node_2).host == "203.0.113.7"


def test_the_status_push_url_follows_the_running_ingest_pods_node_under_the_local_policy():
    s = stream(ingest={"service": {"type": "NodePort", "externalTrafficPolicy": "Local"}})
    body = service_body("NodePort", NODE_PORTS)
    body["spec"]["externalTrafficPolicy"] = "Local"
    settings = OperatorSettings(
        ingest=IngestSettings(external_host="10.0.0.11", regions=[IngestRegion(name="b", external_host="10.0.0.11")])
    )

    def ingest(pod: PodObservation | None) -> Any:
        observed = IngestObservation(
            {"primary": pod} if pod else {},  # type: ignore[dict-item]
            services={"primary": ServiceObservation.of(body)},  # type: ignore[dict-item]
            settings=settings,
        )
        return livestream_status(s, observed, T0).ingest

    pod = PodObservation("cam-ingest", exists=True, phase="Running", ready=True, host_ip="10.0.0.12")
    shown = ingest(pod)
    assert shown.push_url == "rtmp://10.0.0.12:31935/live" and shown.push_url_srt == "srt://10.0.0.12:31998"
    (region,) = shown.regions
    assert region.push_url == "rtmp://10.0.0.11:31935/live"
    assert "only while the ingest Pod runs on one of them (now on 10.0.0.12)" in region.reachable_from
    assert ingest(None).push_url == "rtmp://10.0.0.11:31935/live"
