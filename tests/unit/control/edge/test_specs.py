"""The edge's manifests (control/edge/specs.py): a restricted Pod that carries what the edge reads, a
rollout that never takes a replica away first, its children owned by the Deployment."""

from __future__ import annotations

from streamops.contract.edge import EDGE_NAME
from streamops.contract.playback_token import KEYS_SECRET
from streamops.control.edge.specs import edge_autoscaler, edge_deployment, edge_routes, edge_service, nginx_cache_size
from streamops.control.shared.settings import EdgeSettings, GeoIPDatabase, OperatorSettings, PlaybackSettings

NS = "media"
OWNER = {"apiVersion": "streaming.streamops.dev/v1alpha1", "kind": "LiveStream", "name": "cam", "uid": "u1"}


def test_the_edge_pod_is_restricted_and_carries_what_the_edge_reads():
    settings = OperatorSettings(edge=EdgeSettings(enabled=True, cache_size="512Mi", replicas=3))
    deployment = edge_deployment(NS, settings, [OWNER])
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STREAMOPS_EDGE_NAMESPACE"] == NS and env["STREAMOPS_EDGE_CACHE_SIZE"] == "471859k"
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False, "the edge talks to no API server"
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")
    assert keys["secret"] == {"secretName": KEYS_SECRET, "optional": True}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert {p["containerPort"] for p in container["ports"]} == {8080, 8081}
    assert deployment["metadata"]["ownerReferences"] == [OWNER]


def test_the_service_autoscaler_and_routes_are_the_deployments():
    deployment = edge_deployment(NS, OperatorSettings(edge=EdgeSettings(enabled=True)), [OWNER])
    deployment["metadata"]["uid"] = "d1"
    children = (
        edge_service(deployment),
        edge_autoscaler(deployment, EdgeSettings(replicas=3, max_replicas=2)),
        edge_routes(deployment, {"/b": "b", "/a": "a public"}),
    )
    for child in children:
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("Deployment", "d1", True)
        assert child["metadata"]["name"] == EDGE_NAME
    assert children[1]["spec"]["maxReplicas"] == 3, "never under its minimum"
    assert children[2]["data"]["routes"] == "/a a public\n/b b\n"


def test_nginx_cache_size_leaves_room_in_its_directory():
    assert nginx_cache_size("256Mi") == "235929k"
    assert nginx_cache_size("1Gi") == "943718k"


def test_the_chart_s_geoip_database_is_mounted_into_every_edge_and_named_to_it():
    plain = edge_deployment("media", OperatorSettings(), [])["spec"]["template"]["spec"]
    assert "geoip" not in {v["name"] for v in plain["volumes"]}, "unset: an edge stays as it was"
    geoip = GeoIPDatabase(volume={"secret": {"secretName": "geoip"}}, file="GeoLite2-Country.mmdb")
    spec = edge_deployment("media", OperatorSettings(playback=PlaybackSettings(geoip=geoip)), [])["spec"]["template"]
    pod = spec["spec"]
    assert {"name": "geoip", "secret": {"secretName": "geoip"}} in pod["volumes"]
    [container] = pod["containers"]
    assert {"name": "geoip", "mountPath": "/etc/streamops-edge/geoip", "readOnly": True} in container["volumeMounts"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STREAMOPS_EDGE_GEOIP_FILE"] == "/etc/streamops-edge/geoip/GeoLite2-Country.mmdb"
