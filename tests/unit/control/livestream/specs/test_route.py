"""A LiveStream's playback route (control/livestream/specs/route.py): none unless the stream or the
operator's defaults ask for one, the stream's own settings over the defaults, the path players use,
and the Ingress's or HTTPRoute's manifest (to the primary ingest, or to the edge), hashed as asked.
The route beside the other children, and its status: test_exposure.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from devtools.catalog import stored_livestream
from streamops.contract.edge import EDGE_NAME
from streamops.contract.edge import HTTP_PORT as EDGE_HTTP_PORT
from streamops.control.livestream.specs.route import (
    path_prefix,
    playback_http_route,
    playback_ingress,
    playback_path,
    playback_route,
    playback_route_name,
)
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.control.workers.ingest_address import ingest_names
from streamops.kube.naming import SPEC_HASH_ANNOTATION

PLAIN = OperatorSettings()


def stream(playback: dict[str, Any] | None = None) -> Any:
    return stored_livestream(**({"playback": playback} if playback is not None else {}))


def test_no_route_unless_asked_and_the_default_path_names_the_stream():
    assert playback_route(stream(), PLAIN) is None
    assert playback_path(stream(), PLAIN) == "/streams/media/cam"
    assert path_prefix("/") == "" and path_prefix("/live/cam") == "/live/cam"
    assert playback_route_name("cam") == "cam-playback"


def test_an_ingress_of_the_operators_defaults_with_tls_only_with_a_host():
    defaults = OperatorSettings(
        playback=PlaybackSettings(
            ingress_enabled=True,
            ingress_class_name="nginx",
            ingress_tls_secret_name="wildcard-tls",
            ingress_annotations={"a": "default", "b": "default"},
        )
    )
    bare = playback_route(stream(), defaults)
    assert bare is not None and (bare.kind, bare.host, bare.https, bare.tls_secret_name) == ("Ingress", "", False, "")
    own = {"ingress": {"host": "tv.example.com", "path": "/tv", "annotations": {"b": "own"}}}
    route = playback_route(stream(own), defaults)
    assert route is not None and (route.host, route.https, route.path) == ("tv.example.com", True, "/tv")
    assert route.annotations == {"a": "default", "b": "own"}

    ingress = playback_ingress(stream(own), route)
    assert ingress["kind"] == "Ingress" and ingress["metadata"]["name"] == "cam-playback"
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["tv.example.com"], "secretName": "wildcard-tls"}]
    [rule] = spec["rules"]
    [path] = rule["http"]["paths"]
    assert rule["host"] == "tv.example.com" and (path["path"], path["pathType"]) == ("/tv", "Prefix")
    assert path["backend"]["service"] == {"name": ingest_names("cam", "primary").service, "port": {"name": "http"}}
    assert (
        ingress["metadata"]["annotations"]["b"] == "own" and SPEC_HASH_ANNOTATION in ingress["metadata"]["annotations"]
    )


def test_a_streams_http_route_wins_over_a_default_ingress_and_names_its_port():
    defaults = OperatorSettings(
        playback=PlaybackSettings(
            ingress_enabled=True, http_route_parent_refs=[{"name": "gateway", "namespace": "infra"}]
        )
    )
    own = {"httpRoute": {"enabled": True, "hostnames": ["tv.example.com", "*.tv.example.com"], "https": True}}
    route = playback_route(stream(own), defaults)
    assert route is not None and (route.kind, route.host, route.https) == ("HTTPRoute", "tv.example.com", True)
    manifest = playback_http_route(stream(own), route, 8080)
    spec = manifest["spec"]
    assert spec["parentRefs"] == [{"name": "gateway", "namespace": "infra"}]
    assert spec["hostnames"] == ["tv.example.com", "*.tv.example.com"]
    [rule] = spec["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/streams/media/cam"}}]
    assert rule["backendRefs"] == [{"name": ingest_names("cam", "primary").service, "port": 8080}]
    wildcard = playback_route(stream({"httpRoute": {"enabled": True, "hostnames": ["*.tv.example.com"]}}), defaults)
    assert wildcard is not None and wildcard.host == "", "no one host to build status URLs with"


def test_the_hash_follows_what_was_asked():
    defaults = OperatorSettings(playback=PlaybackSettings(ingress_enabled=True))
    first = playback_route(stream(), defaults)
    moved = playback_route(stream({"ingress": {"path": "/elsewhere"}}), defaults)
    assert first is not None and moved is not None
    hashes = {playback_ingress(stream(), r)["metadata"]["annotations"][SPEC_HASH_ANNOTATION] for r in (first, moved)}
    assert len(hashes) == 2
    assert first.backend("cam", 8080) == (ingest_names("cam", "primary").service, 8080)
    assert replace(first, edge=True).backend("cam", 8080) == (EDGE_NAME, EDGE_HTTP_PORT), "the namespace's edge"
