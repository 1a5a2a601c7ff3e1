"""The tenancy policy's admission of a LiveStream (admission.py, pure) with the Secrets it names read
from the API: the route's own TLS Secret, the ICE servers', the pull's credentials and CA."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.api.livestream import IngestService
from streamops.control.livestream.admission import (
    Admission,
    node_ports_refusal,
    own_ingress_tls,
    route_refusals,
    service_refusals,
)
from streamops.control.livestream.specs.features import ice_servers_ref
from streamops.control.livestream.specs.route import PlaybackRoute
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import secret_use_refusal
from streamops.kube.reads import KubeReads


def admit(api: KubeReads, settings: OperatorSettings, stream: LiveStream, route: PlaybackRoute | None) -> Admission:
    """Reads the Secrets the stream names for its route, its WebRTC clients, its RTSPS readers, its
    RTSP cameras and its pull origins' CA (get: the operator never lists Secrets); the stream key's and the RTMPS
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
        tls = own_ingress_tls(stream, route) if settings.tenancy.require_secret_label else None
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
    rtsp = spec.playback.rtsp
    rtsps = (
        rtsp.tls.secret_name if rtsp and rtsp.enabled and rtsp.tls and settings.tenancy.require_secret_label else None
    )
    if rtsp is not None and rtsps is not None:
        field = "spec.playback.rtsp.tls.secretName"
        refused_rtsps = secret_use_refusal(field, rtsps, api.get("Secret", namespace, rtsps), settings.tenancy)
        if refused_rtsps:  # off, not plain RTSP instead: the stream asked for TLS (fail closed)
            refusals.append(f"{refused_rtsps}: no RTSPS for readers")
            off = rtsp.model_copy(update={"enabled": False})
            spec = spec.model_copy(update={"playback": spec.playback.model_copy(update={"rtsp": off})})
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
