"""A LiveStream's playback route (Ingress or HTTPRoute): the operator's defaults filled in, and its manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from streamops.api import LiveStream
from streamops.api.livestream import (
    PlaybackHttpRoute,
    PlaybackIngress,
)
from streamops.contract.edge import EDGE_NAME
from streamops.contract.edge import HTTP_PORT as EDGE_HTTP_PORT
from streamops.control.livestream.specs.child_metadata import child_metadata, with_managed_list
from streamops.control.livestream.specs.features import edge_on
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.ingest_address import ingest_names
from streamops.control.workers.worker_pod import spec_hash
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    SPEC_HASH_ANNOTATION,
    child_name,
)

RouteKind = Literal["Ingress", "HTTPRoute"]


def playback_path(stream: LiveStream, settings: OperatorSettings) -> str:
    """The path prefix players use through a route: the stream's own, else /streams/<ns>/<name>."""
    route = stream.spec.playback
    own = (route.ingress.path if route.ingress else None) or (route.http_route.path if route.http_route else None)
    return own or f"/streams/{stream.metadata.namespace}/{stream.metadata.name}"


def path_prefix(path: str) -> str:
    return "" if path == "/" else path


@dataclass(frozen=True)
class PlaybackRoute:
    """A stream's Ingress or HTTPRoute with the operator's defaults filled in."""

    kind: RouteKind
    path: str
    host: str = ""  # the host status URLs are built with ("" : none known)
    https: bool = False
    class_name: str = ""
    tls_secret_name: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    hostnames: tuple[str, ...] = ()
    parent_refs: tuple[tuple[tuple[str, str], ...], ...] = ()  # each a sorted tuple of (field, value)
    edge: bool = False  # to the namespace's edge (its Service streamops-edge), not the primary ingest

    def backend(self, stream_name: str, http_port: int) -> tuple[str, int]:
        """The Service (and port) the route sends viewers to."""
        if self.edge:
            return EDGE_NAME, EDGE_HTTP_PORT
        return ingest_names(stream_name, "primary").service, http_port


def playback_route(stream: LiveStream, settings: OperatorSettings) -> PlaybackRoute | None:
    """None: the stream has no route (neither its spec nor the operator's defaults ask for one)."""
    own = stream.spec.playback
    path = playback_path(stream, settings)
    ingress = (
        own.ingress if own.ingress is not None else (PlaybackIngress() if settings.playback.ingress_enabled else None)
    )
    if ingress is not None and ingress.enabled and not (own.http_route and own.http_route.enabled):
        host = ingress.host or settings.playback.ingress_host
        tls = ingress.tls_secret_name or settings.playback.ingress_tls_secret_name
        return PlaybackRoute(
            kind="Ingress",
            edge=edge_on(stream, settings.edge),
            path=path,
            host=host,
            https=bool(tls and host),
            class_name=ingress.class_name or settings.playback.ingress_class_name,
            tls_secret_name=tls if host else "",
            annotations={**settings.playback.ingress_annotations, **ingress.annotations},
        )
    route = own.http_route
    if route is None and settings.playback.http_route_enabled:
        route = PlaybackHttpRoute()
    if route is not None and route.enabled:
        hostnames = tuple(route.hostnames or settings.playback.http_route_hostnames)
        parents = (
            [p.wire() for p in route.parent_refs] if route.parent_refs else settings.playback.http_route_parent_refs
        )
        return PlaybackRoute(
            kind="HTTPRoute",
            edge=edge_on(stream, settings.edge),
            path=path,
            host=hostnames[0].removeprefix("*.") if hostnames and not hostnames[0].startswith("*") else "",
            https=route.https if route.https is not None else settings.playback.http_route_https,
            hostnames=hostnames,
            parent_refs=tuple(tuple(sorted(p.items())) for p in parents),
        )
    return None


def playback_route_name(stream_name: str) -> str:
    return child_name(stream_name, "playback")


def _route_metadata(stream: LiveStream, annotations: dict[str, str]) -> Manifest:
    metadata = child_metadata(stream, playback_route_name(stream.metadata.name), "playback")
    metadata["annotations"] = with_managed_list({**annotations, **metadata["annotations"]})
    return metadata


def _with_spec_hash(manifest: Manifest) -> Manifest:
    """Routes carry the hash of what was asked: the server fills in defaults, so comparing specs
    would always see a difference."""
    manifest["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = spec_hash(
        {"spec": manifest["spec"], "annotations": manifest["metadata"]["annotations"]}
    )
    return manifest


def playback_ingress(stream: LiveStream, route: PlaybackRoute) -> Manifest:
    """pathType Prefix on the stream's path, to the primary ingest Service's http port (or the
    edge's): both serve under that path, so no controller-specific rewrite is needed."""
    service, _ = route.backend(stream.metadata.name, 0)
    rule: Manifest = {
        "http": {
            "paths": [
                {
                    "path": route.path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": service, "port": {"name": "http"}}},
                }
            ]
        }
    }
    if route.host:
        rule = {"host": route.host, **rule}
    spec: Manifest = {"rules": [rule]}
    if route.class_name:
        spec["ingressClassName"] = route.class_name
    if route.tls_secret_name and route.host:
        spec["tls"] = [{"hosts": [route.host], "secretName": route.tls_secret_name}]
    return _with_spec_hash(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": _route_metadata(stream, route.annotations),
            "spec": spec,
        }
    )


def playback_http_route(stream: LiveStream, route: PlaybackRoute, http_port: int) -> Manifest:
    """A PathPrefix match on the stream's path to the primary ingest Service (`http_port` is its
    http port: backendRefs name a port by number), or to the edge's."""
    service, port = route.backend(stream.metadata.name, http_port)
    spec: Manifest = {
        "parentRefs": [dict(p) for p in route.parent_refs],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": route.path}}],
                "backendRefs": [{"name": service, "port": port}],
            }
        ],
    }
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    return _with_spec_hash(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": _route_metadata(stream, route.annotations),
            "spec": spec,
        }
    )
