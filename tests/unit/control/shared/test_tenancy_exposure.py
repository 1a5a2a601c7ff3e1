"""What of the outside a tenant's LiveStream may open (issue 52, finding 6; docs/design/tenancy.md):
a NodePort (every node's address), chosen nodePorts (the cluster-wide range), and the admin's
LoadBalancer regions (a public load balancer each). On ec95e86 a stream asking `type: NodePort` got it
with `tenancy.allowLoadBalancer: false`, held any nodePort it named, and brought one load balancer per
LoadBalancer region with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import LiveStream
from streamops.control.livestream.exposure import ServiceObservation
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.livestream.status import IngestObservation, livestream_status
from streamops.control.shared.settings import IngestRegion, IngestSettings, OperatorSettings, TenancySettings
from streamops.control.shared.tenancy import (
    regional_load_balancers_allowed,
    service_type_refusal,
    wider_than_default,
)

NS = "media"
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LB_REGION = IngestRegion.model_validate({"name": "eu", "service": {"type": "LoadBalancer"}})
NODE_REGION = IngestRegion(name="lan", external_host="10.0.0.9")


@pytest.fixture
def api() -> FakeKubeApi:
    return operator_view()


def put(api: FakeKubeApi, **service: Any) -> None:
    body = livestream("cam", ingest={"service": service} if service else {})
    body["metadata"]["namespace"] = NS
    api.add(body)


def reconcile(api: FakeKubeApi, settings: OperatorSettings) -> StreamOutcome:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    return reconcile_livestream(api, settings, body, None, auto_recording_exists=False)


def service(api: FakeKubeApi) -> dict[str, Any]:
    body = api.object("Service", NS, "cam-ingest")
    assert body is not None
    return body


def regional(api: FakeKubeApi) -> list[str]:
    return sorted(n for n in api.names("Service") if "-region-" in n)


# --- the pure rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "default", "flags", "refused"),
    [
        (None, "ClusterIP", {}, None),
        ("ClusterIP", "LoadBalancer", {}, None),  # narrower than the default: nothing to allow
        ("NodePort", "ClusterIP", {}, "tenancy.allowNodePort"),
        ("NodePort", "ClusterIP", {"allow_node_port": True}, None),
        ("NodePort", "ClusterIP", {"allow_load_balancer": True}, None),  # an LB holds nodePorts too
        ("NodePort", "NodePort", {}, None),  # what every stream gets (the multinode cluster's values)
        ("NodePort", "LoadBalancer", {}, None),
        ("LoadBalancer", "ClusterIP", {"allow_node_port": True}, "tenancy.allowLoadBalancer"),
        ("LoadBalancer", "NodePort", {}, "tenancy.allowLoadBalancer"),
        ("LoadBalancer", "LoadBalancer", {}, None),
        ("LoadBalancer", "ClusterIP", {"allow_load_balancer": True}, None),
    ],
)
def test_a_type_wider_than_the_default_needs_its_switch(
    own: str | None, default: str, flags: dict[str, bool], refused: str | None
) -> None:
    settings = OperatorSettings(ingest=IngestSettings(service_type=default), tenancy=TenancySettings(**flags))  # type: ignore[arg-type]
    said = service_type_refusal(own, settings)
    assert (said is None) == (refused is None) and (refused is None or refused in (said or "")), said
    assert regional_load_balancers_allowed(own, settings) == (
        settings.tenancy.allow_load_balancer or not wider_than_default(own, settings.ingest)
    )


# --- at admission ---------------------------------------------------------------------------------


def test_a_node_port_is_not_made_unless_allowed(api: FakeKubeApi) -> None:
    put(api, type="NodePort", externalTrafficPolicy="Local")
    outcome = reconcile(api, OperatorSettings())
    assert service(api)["spec"]["type"] == "ClusterIP", "the operator's default type, not the ask"
    assert "externalTrafficPolicy" not in service(api)["spec"]
    (refusal,) = outcome.policy_refusals
    assert "spec.ingest.service.type NodePort is not allowed (chart value tenancy.allowNodePort)" in refusal
    assert api.names("Pod") == ["cam-ingest"], "the ingest runs on"
    assert reconcile(api, OperatorSettings(tenancy=TenancySettings(allow_node_port=True))).policy_refusals == ()
    assert service(api)["spec"]["type"] == "NodePort"
    # Taken back (patched to the default) when the admin stops allowing it.
    reconcile(api, OperatorSettings())
    assert service(api)["spec"]["type"] == "ClusterIP"


def test_chosen_node_ports_are_dropped_unless_allowed(api: FakeKubeApi) -> None:
    put(api, type="NodePort", nodePorts={"rtmp": 31935, "srt": 31998})
    opened = OperatorSettings(tenancy=TenancySettings(allow_node_port=True))
    (refusal,) = reconcile(api, opened).policy_refusals
    assert "spec.ingest.service.nodePorts (rtmp, srt) are not allowed (chart value tenancy.allowFixedNodePorts)" in (
        refusal
    )
    assert "the API server allocates them" in refusal
    spec = service(api)["spec"]
    assert spec["type"] == "NodePort", "only the ports are dropped: the type stays what was allowed"
    assert {p["name"]: p["nodePort"] for p in spec["ports"]}.keys() >= {"rtmp", "srt"}
    assert 31935 not in [p["nodePort"] for p in spec["ports"]] and 31998 not in [p["nodePort"] for p in spec["ports"]]
    # Allowed: the Service is made again with them (a fixed port is only given at creation here).
    api.delete("Service", NS, "cam-ingest")
    assert (
        reconcile(
            api,
            opened.model_copy(update={"tenancy": opened.tenancy.model_copy(update={"allow_fixed_node_ports": True})}),
        ).policy_refusals
        == ()
    )
    assert {p["name"]: p["nodePort"] for p in service(api)["spec"]["ports"]}.items() >= {"rtmp": 31935}.items()


def test_a_refused_type_and_chosen_ports_are_both_said(api: FakeKubeApi) -> None:
    put(api, type="NodePort", nodePorts={"rtmp": 31935})
    refusals = reconcile(api, OperatorSettings()).policy_refusals
    assert len(refusals) == 2 and "tenancy.allowNodePort" in refusals[0] and "allowFixedNodePorts" in refusals[1]
    assert service(api)["spec"]["type"] == "ClusterIP"


def test_load_balancer_regions_come_only_with_a_stream_that_may_have_a_load_balancer(api: FakeKubeApi) -> None:
    """A stream that widened its own type to NodePort gets no region load balancer unless it may ask
    for a LoadBalancer; its status says so. The admin's own NodePort streams keep theirs."""
    put(api, type="NodePort")
    settings = OperatorSettings(
        tenancy=TenancySettings(allow_node_port=True),
        ingest=IngestSettings(external_host="203.0.113.7", regions=[LB_REGION, NODE_REGION]),
    )
    assert reconcile(api, settings).policy_refusals == ()
    assert service(api)["spec"]["type"] == "NodePort" and regional(api) == []
    stream = LiveStream.model_validate(api.object("LiveStream", NS, "cam"))
    observed = IngestObservation(
        {},
        services={"primary": ServiceObservation.of(service(api))},
        settings=settings,  # type: ignore[dict-item]
    )
    eu, lan = livestream_status(stream, observed, T0).ingest.regions  # type: ignore[union-attr, misc]
    assert eu.push_url is None and "not made for this stream" in (eu.reachable_from or "")
    assert "tenancy.allowLoadBalancer" in (eu.reachable_from or "")
    assert (lan.push_url or "").startswith("rtmp://10.0.0.9:"), "a NodePort region makes nothing: still listed"
    # May ask for a load balancer: the region's Service is made.
    reconcile(
        api, settings.model_copy(update={"tenancy": settings.tenancy.model_copy(update={"allow_load_balancer": True})})
    )
    assert regional(api) == ["cam-ingest-region-eu"]
    # ... and goes again when the admin closes it.
    reconcile(api, settings)
    assert regional(api) == []
    # The admin's own NodePort (the stream asks nothing of its own): the region's Service is made.
    api.modify("LiveStream", NS, "cam", {"spec": {"ingest": {"service": {"type": None}}}})
    reconcile(
        api,
        settings.model_copy(
            update={
                "ingest": settings.ingest.model_copy(update={"service_type": "NodePort"}),
                "tenancy": settings.tenancy.model_copy(update={"allow_node_port": False}),
            }
        ),
    )
    assert regional(api) == ["cam-ingest-region-eu"]
