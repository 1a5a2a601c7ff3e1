"""What of a LiveStream's spec the admin's tenancy policy admits (control/shared/tenancy.py), before
any child is made: the stream as its children are built from, the playback route or none, and
each refusal as status says it. Fail closed, per child: a refused route is not made (one made
earlier is removed), a refused ingest Service takes the operator's defaults instead of the
stream's own options (refused nodePorts alone are dropped), a refused ICE servers Secret is not
mounted, nor one that does not exist yet (the kubelet would mount it unchecked once it appears);
the ingest runs on. Why, and what stays the admin's: docs/design/tenancy.md. Pure: the Secrets the
stream names are read, and the stream admitted, by admission_reads.py."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.control.livestream.specs.route import PlaybackRoute
from streamops.control.shared.settings import OperatorSettings, TenancySettings
from streamops.control.shared.tenancy import (
    annotations_refusal,
    fixed_node_ports_refusal,
    playback_path_refusal,
    service_type_refusal,
)


@dataclass(frozen=True)
class Admission:
    stream: LiveStream  # what the ingest's Services and Pods are built from
    route: PlaybackRoute | None  # None: no route (none asked for, or refused)
    refusals: tuple[str, ...] = ()


def service_refusals(stream: LiveStream, settings: OperatorSettings) -> list[str]:
    """The stream's own spec.ingest.service options the policy refuses and that make the whole
    Service the operator's defaults: its type, its annotations (the operator's defaults are the
    admin's and never refused). Chosen nodePorts: node_ports_refusal."""
    own = stream.spec.ingest.service
    refusals = [r for r in [service_type_refusal(own.type, settings)] if r]
    annotations = annotations_refusal("spec.ingest.service.annotations", own.annotations, settings.tenancy)
    if annotations:
        refusals.append(annotations)
    return refusals


def node_ports_refusal(stream: LiveStream, tenancy: TenancySettings) -> str | None:
    """Chosen nodePorts the policy refuses: only they are dropped (the API server allocates others),
    which narrows nothing else the stream asked for."""
    chosen = stream.spec.ingest.service.node_ports
    return fixed_node_ports_refusal(chosen.model_dump(exclude_none=True) if chosen else (), tenancy)


def route_refusals(stream: LiveStream, route: PlaybackRoute, tenancy: TenancySettings) -> list[str]:
    """What of the stream's own route the policy refuses: its path, its annotations (Ingress only:
    the HTTPRoute has none of the stream's). A Secret is checked by admit(), which reads it."""
    playback, namespace = stream.spec.playback, stream.metadata.namespace or ""
    field = "spec.playback.ingress.path" if route.kind == "Ingress" else "spec.playback.httpRoute.path"
    refusals = [p for p in [playback_path_refusal(field, route.path, namespace, tenancy)] if p]
    if route.kind == "Ingress" and playback.ingress is not None:
        annotations = annotations_refusal("spec.playback.ingress.annotations", playback.ingress.annotations, tenancy)
        refusals += [annotations] if annotations else []
    return refusals


def own_ingress_tls(stream: LiveStream, route: PlaybackRoute) -> str | None:
    """The TLS Secret the stream itself names for its Ingress (the operator's default is the admin's)."""
    ingress = stream.spec.playback.ingress
    if route.kind != "Ingress" or ingress is None or not route.tls_secret_name:
        return None
    return ingress.tls_secret_name
