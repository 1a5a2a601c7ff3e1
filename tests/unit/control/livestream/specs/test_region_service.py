"""A LoadBalancer region's Service (specs/region_service.py): the primary ingest's push ports only."""

from __future__ import annotations

from functools import partial

from devtools.catalog import stored_livestream
from streamops.control.livestream.specs.region_service import region_service
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.shared.settings import IngestRegion, OperatorSettings

SETTINGS = OperatorSettings()
REGION = IngestRegion.model_validate({"name": "eu-west", "service": {"type": "LoadBalancer"}})

stream = partial(stored_livestream, uid="uid-1", generation=1)


def test_push_ports_only_rtmps_on_443_and_the_primarys_selector():
    s = stream(source={"push": {"protocols": ["rtmp", "rtmps", "srt", "whip"], "tls": {"secretName": "t"}}})
    service = region_service(s, REGION, SETTINGS)
    assert service["metadata"]["name"] == "cam-ingest-region-eu-west"
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "ingest-region"
    assert {(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        ("rtmp", 1935, "rtmp"),
        ("rtmps", 443, "rtmps"),
        ("srt", 9998, "srt"),
    }, "no http, WebRTC or internal port"
    assert service["spec"]["selector"] == ingest_service(s, "primary", SETTINGS)["spec"]["selector"]
    assert "loadBalancerClass" not in service["spec"] and "externalTrafficPolicy" not in service["spec"]


def test_host_ports_are_the_service_ports_and_a_long_name_is_still_a_service_name():
    s = stream(name="a" * 60)
    service = region_service(s, REGION, SETTINGS, {"http": 40000, "internal": 40001, "rtmp": 40002, "srt": 40003})
    assert [p["port"] for p in service["spec"]["ports"]] == [40002, 40003]
    assert len(service["metadata"]["name"]) <= 63
