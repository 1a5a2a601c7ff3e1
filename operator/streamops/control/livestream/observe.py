"""What a LiveStream's reconcile reads before it decides anything (docs/design/reconcile-plan.md):
its referenced key and RTMPS certificate checked, the quality set it names, what the tenancy policy
admits, its ingest Services and Pods as they are. Reads only; plan.py decides from what this returns."""

from __future__ import annotations

from streamops.api import LiveStream
from streamops.contract.stream_key import srt_passphrase_problem, stream_key_bytes
from streamops.control.livestream.admission_reads import admit
from streamops.control.livestream.deactivation import DEACTIVATED_ANNOTATION, in_force
from streamops.control.livestream.observation import ROLES, KeyCheck, Observed, recorded_regions
from streamops.control.livestream.specs.route import playback_route
from streamops.control.livestream.specs.secret import stream_key_ref, tls_secret_name
from streamops.control.livestream.tls_secret import tls_secret_problem
from streamops.control.shared.quality_set_reads import read_quality_set
from streamops.control.shared.settings import OperatorSettings, TenancySettings
from streamops.control.shared.spec_reads import read_secret_key
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.control.workers.ingest_address import ingest_names, region_service_name
from streamops.kube.reads import KubeReads


def check_stream_key(api: KubeReads, settings: OperatorSettings, stream: LiveStream) -> KeyCheck:
    """A referenced key: it exists, the policy admits it, and with srt its length suits SRT. A bad
    length does not keep the ingest from running: RTMP takes any key, and the worker starts no SRT
    listener with it, so fixing the Secret needs no restart (the worker re-reads the key). A
    generated key is always a valid SRT passphrase and is never read."""
    ref = stream_key_ref(stream)
    push = stream.spec.source.push
    if ref is None or push is None or push.stream_key_secret_ref is None:
        return KeyCheck()
    key = read_secret_key(api, stream.metadata.namespace or "", ref, "source.push.streamKeySecretRef", settings)
    if key.value is None:
        return KeyCheck(missing=key.missing, refused=key.refused)
    problem = srt_passphrase_problem(stream_key_bytes(key.value)) if "srt" in push.protocols else None
    return KeyCheck(invalid_for_srt=problem)


def check_tls_secret(
    api: KubeReads, tenancy: TenancySettings, stream: LiveStream
) -> tuple[tuple[str, str] | None, str | None]:
    """(reason, message) of a Secret the ingest cannot use, or the tenancy policy's refusal of it
    (an unlabelled Secret is refused before its keys are looked at)."""
    name = tls_secret_name(stream)
    if name is None:
        return None, None
    secret = api.get("Secret", stream.metadata.namespace or "", name)
    refused = secret_reference_refusal("source.push.tls.secretName", name, secret, tenancy)
    return (None, refused) if refused is not None else (tls_secret_problem(name, secret), None)


def observe(
    api: KubeReads, stream: LiveStream, settings: OperatorSettings, report: tuple[str, str] | None = None
) -> Observed:
    """Reads in the order the reconcile used to (the Secrets the spec names, the quality set, then
    what the policy admits, then the children): Services, Pods and quality sets come from the watch
    indexes, no server read."""
    namespace, name = stream.metadata.namespace or "", stream.metadata.name
    key = check_stream_key(api, settings, stream)
    tls_problem, tls_refused = check_tls_secret(api, settings.tenancy, stream)
    quality_set = read_quality_set(api, stream)
    asked_route = playback_route(stream, settings)
    admission = admit(api, settings, stream, asked_route)
    names = {role: ingest_names(name, role) for role in ROLES}
    services = {role: api.get("Service", namespace, names[role].service) for role in ROLES}
    regions = list(settings.ingest.load_balancer_regions)
    regions += [r for r in recorded_regions(services["primary"]) if r not in regions]
    return Observed(
        key=key,
        tls_problem=tls_problem,
        tls_refused=tls_refused,
        asked_route=asked_route,
        admission=admission,
        services=services,
        internal_services={role: api.get("Service", namespace, names[role].internal_service) for role in ROLES},
        pods={role: api.get("Pod", namespace, names[role].pod) for role in ROLES},
        region_services={r: api.get("Service", namespace, region_service_name(name, r)) for r in regions},
        deactivation=in_force(stream),
        deactivation_record=stream.metadata.annotations.get(DEACTIVATED_ANNOTATION),
        report=report,
        quality_set=quality_set,
    )
