"""What of a LiveStream's spec the admin's tenancy policy admits (control/shared/tenancy.py), before
any child is made: the stream as its children are built from, the playback route or none, and
each refusal as status says it. Fail closed, per child: a refused route is not made (one made
earlier is removed), a refused ingest Service takes the operator's defaults instead of the
stream's own options (refused nodePorts alone are dropped), a refused ICE servers Secret is not
mounted, nor one that does not exist yet (the kubelet would mount it unchecked once it appears);
the ingest runs on. Why, and what stays the admin's: docs/design/tenancy.md."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.livestream import IngestService
from streamops.control.livestream.specs.features import ice_servers_ref
from streamops.control.livestream.specs.route import PlaybackRoute
from streamops.control.runtime.settings import OperatorSettings, TenancySettings
from streamops.control.shared.tenancy import (
    annotations_refusal,
    fixed_node_ports_refusal,
    playback_path_refusal,
    secret_use_refusal,
    service_type_refusal,
)
from streamops.kube.client import KubeApi


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


def _own_ingress_tls(stream: LiveStream, route: PlaybackRoute) -> str | None:
    """The TLS Secret the stream itself names for its Ingress (the operator's default is the admin's)."""
    ingress = stream.spec.playback.ingress
    if route.kind != "Ingress" or ingress is None or not route.tls_secret_name:
        return None
    return ingress.tls_secret_name


def admit(api: KubeApi, settings: OperatorSettings, stream: LiveStream, route: PlaybackRoute | None) -> Admission:
    """Reads the Secrets the stream names for its route, its WebRTC clients, its RTSP cameras and
    its pull origins' CA (get: the operator never lists Secrets); the stream key's and the RTMPS
    certificate's are checked where they are read (reconcile.py)."""
    namespace = stream.metadata.namespace or ""
    refusals: list[str] = []
    spec = stream.spec
    service = service_refusals(stream, settings)
    ports = node_ports_refusal(stream, settings.tenancy)
    if service:
        refusals += [f"{r}: the ingest Service has the operator's defaults" for r in service]
        refusals += [f"{ports}: the API server allocates them"] if ports else []
        spec = spec.model_copy(update={"ingest": spec.ingest.model_copy(update={"service": IngestService()})})
    elif ports:
        refusals.append(f"{ports}: the API server allocates them")
        own = spec.ingest.service.model_copy(update={"node_ports": None})
        spec = spec.model_copy(update={"ingest": spec.ingest.model_copy(update={"service": own})})
    if route is not None:
        refused = route_refusals(stream, route, settings.tenancy)
        tls = _own_ingress_tls(stream, route) if settings.tenancy.require_secret_label else None
        if tls is not None:
            secret = api.get("Secret", namespace, tls)
            refused_tls = secret_use_refusal("spec.playback.ingress.tlsSecretName", tls, secret, settings.tenancy)
            refused += [refused_tls] if refused_tls else []
        if refused:
            refusals += [f"{r}: no playback route" for r in refused]
            route = None
    ice = ice_servers_ref(stream) if settings.tenancy.require_secret_label else None
    if ice is not None:
        field = "spec.playback.webrtc.iceServersSecretRef"
        refused_ice = secret_use_refusal(field, ice.name, api.get("Secret", namespace, ice.name), settings.tenancy)
        if refused_ice:
            refusals.append(f"{refused_ice}: WebRTC clients get no ICE servers from it")
            webrtc = spec.playback.webrtc.model_copy(update={"ice_servers_secret_ref": None})
            spec = spec.model_copy(update={"playback": spec.playback.model_copy(update={"webrtc": webrtc})})
    pull = spec.source.pull
    credentials = pull.credentials_secret_ref if pull is not None and settings.tenancy.require_secret_label else None
    if pull is not None and credentials is not None:
        field = "spec.source.pull.credentialsSecretRef"
        secret = api.get("Secret", namespace, credentials.name)
        refused_credentials = secret_use_refusal(field, credentials.name, secret, settings.tenancy)
        if refused_credentials:
            refusals.append(f"{refused_credentials}: the RTSP cameras get no credentials from it")
            pull = pull.model_copy(update={"credentials_secret_ref": None})
            spec = spec.model_copy(update={"source": spec.source.model_copy(update={"pull": pull})})
    ca = pull.tls.ca_secret_ref if pull is not None and pull.tls is not None else None
    if pull is not None and pull.tls is not None and ca is not None and settings.tenancy.require_secret_label:
        # The CA decides which origins are trusted: its Secret follows the same rule. Refused, the
        # origins are verified against the system's trust store instead (fail closed).
        field = "spec.source.pull.tls.caSecretRef"
        refused_ca = secret_use_refusal(field, ca.name, api.get("Secret", namespace, ca.name), settings.tenancy)
        if refused_ca:
            refusals.append(f"{refused_ca}: the pull origins are verified against the system's trust store instead")
            pull = pull.model_copy(update={"tls": pull.tls.model_copy(update={"ca_secret_ref": None})})
            spec = spec.model_copy(update={"source": spec.source.model_copy(update={"pull": pull})})
    admitted = stream if spec is stream.spec else stream.model_copy(update={"spec": spec})
    return Admission(admitted, route, tuple(refusals))
