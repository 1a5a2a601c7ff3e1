"""What a LiveStream's reconcile reads before it decides anything (docs/design/reconcile-plan.md):
its referenced key and RTMPS certificate checked, the quality set it names, what the tenancy policy
admits, its ingest Services and Pods, its playback route, its auto Recording and its warm recorder as
they are. Reads only, each object once; plan.py decides from what this returns."""

from __future__ import annotations

from streamops.api import RECORDING, LiveStream
from streamops.contract.ingest import RULES_CONFIGMAP
from streamops.contract.stream_key import srt_passphrase_problem, stream_key_bytes
from streamops.control.livestream.admission_reads import admit
from streamops.control.livestream.deactivation import DEACTIVATED_ANNOTATION, in_force
from streamops.control.livestream.observation import (
    ROLES,
    ROUTE_KINDS,
    KeyCheck,
    Observed,
    StandbyObserved,
    recorded_regions,
)
from streamops.control.livestream.specs.auto_recording import auto_recording_name
from streamops.control.livestream.specs.disruption_budget import RELEASING_SUFFIX
from streamops.control.livestream.specs.route import PlaybackRoute, RouteKind, playback_route, playback_route_name
from streamops.control.livestream.specs.secret import stream_key_ref, tls_secret_name
from streamops.control.livestream.tls_secret import tls_secret_problem
from streamops.control.shared.playback_policies import mounts_rules
from streamops.control.shared.playback_policy_reads import read_playback_policy
from streamops.control.shared.quality_set_reads import read_quality_set
from streamops.control.shared.settings import OperatorSettings, TenancySettings
from streamops.control.shared.spec_reads import read_secret_key
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.control.storage.recorder_pod import standby_pod_name
from streamops.control.workers.cluster_nodes import by_name
from streamops.control.workers.drain import drain_reason, pod_node
from streamops.control.workers.handover_marks import marks_of, serving_index
from streamops.control.workers.ingest_address import ingest_names, ingest_slots, region_service_name
from streamops.control.workers.placement import spread
from streamops.kube.manifests import Manifest
from streamops.kube.naming import PLAYBACK_ROUTE_ANNOTATION, owned_by
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


def observe_routes(
    api: KubeReads, stream: LiveStream, asked: PlaybackRoute | None, primary: Manifest | None
) -> dict[RouteKind, Manifest | None]:
    """The playback route of the kind asked for and of the kind the primary Service records (one to
    delete): server reads (routes are not watched), none for a stream that has neither."""
    had = ((primary or {}).get("metadata", {}).get("annotations") or {}).get(PLAYBACK_ROUTE_ANNOTATION)
    kinds: list[RouteKind] = [k for k in ROUTE_KINDS if (asked is not None and asked.kind == k) or had == k]
    name = playback_route_name(stream.metadata.name)
    return {kind: api.get(kind, stream.metadata.namespace or "", name) for kind in kinds}


def observe_standby(
    api: KubeReads, stream: LiveStream, settings: OperatorSettings, name: str | None, asked: bool
) -> StandbyObserved:
    """The warm recorder the pod index names (`name`); while one is `asked` for and the stream owns
    none, the next free name (from the index) and whether the default claim exists (a server read)."""
    namespace = stream.metadata.namespace or ""
    pod = api.get("Pod", namespace, name) if name else None
    if not asked or owned_by(pod, stream.metadata.uid):
        return StandbyObserved(pod)
    number, free = 1, standby_pod_name(stream.metadata.name, 1)
    while (pod if free == name else api.get("Pod", namespace, free)) is not None:  # (the named one: read above)
        number += 1
        free = standby_pod_name(stream.metadata.name, number)
    claim = api.get("PersistentVolumeClaim", namespace, settings.recordings.claim)
    return StandbyObserved(pod, free, claim is not None)


def serving_and_other(
    api: KubeReads, namespace: str, slots: tuple[str, str]
) -> tuple[Manifest | None, Manifest | None]:
    """A role's two ingest Pods (each slot read once): the one that serves (handover_marks.serving_index)
    and the other."""
    found = [api.get("Pod", namespace, slot) for slot in slots]
    index = serving_index([marks_of(slot, pod) for slot, pod in zip(slots, found, strict=True)])
    if index is None:
        return None, None
    return found[index], found[1 - index]


def observe(
    api: KubeReads,
    stream: LiveStream,
    settings: OperatorSettings,
    report: tuple[str, str] | None = None,
    auto_recording_exists: bool = True,
    standby: str | None = None,
    recorder_running: bool = False,
) -> Observed:
    """Reads in the order the reconcile used to (the Secrets the spec names, the quality set, then
    what the policy admits, then the children): Services, Pods and quality sets come from the watch
    indexes; routes, the auto Recording and the claim are server reads, each done only when the
    stream may have one. `auto_recording_exists` False (from the operator's index) spares the
    Recording's read when auto recording is off; `standby`: the warm recorder's name, when the pod
    index has one; `recorder_running`: a Recording of the stream has its recorder (no standby is
    asked for beside it)."""
    namespace, name = stream.metadata.namespace or "", stream.metadata.name
    key = check_stream_key(api, settings, stream)
    tls_problem, tls_refused = check_tls_secret(api, settings.tenancy, stream)
    quality_set = read_quality_set(api, stream)
    playback_policy = read_playback_policy(api, stream)
    asked_route = playback_route(stream, settings)
    admission = admit(api, settings, stream, asked_route)
    names = {role: ingest_names(name, role) for role in ROLES}
    services = {role: api.get("Service", namespace, names[role].service) for role in ROLES}
    regions = list(settings.ingest.load_balancer_regions)
    regions += [r for r in recorded_regions(services["primary"]) if r not in regions]
    slots = {role: serving_and_other(api, namespace, ingest_slots(name, role)) for role in ROLES}
    admitted = admission.stream
    pods = {role: slots[role][0] for role in ROLES}  # the serving Pod of each role
    nodes = api.nodes()
    on = by_name(nodes or [])
    auto = admitted.spec.recording.auto or auto_recording_exists
    rules_read = playback_policy is not None or any(mounts_rules(pod) for pod in pods.values())
    asks_standby = admitted.spec.recording.standby and admitted.spec.active and not recorder_running
    return Observed(
        key=key,
        tls_problem=tls_problem,
        tls_refused=tls_refused,
        asked_route=asked_route,
        admission=admission,
        services=services,
        internal_services={role: api.get("Service", namespace, names[role].internal_service) for role in ROLES},
        pods=pods,
        others={role: slots[role][1] for role in ROLES},
        region_services={r: api.get("Service", namespace, region_service_name(name, r)) for r in regions},
        deactivation=in_force(stream),
        deactivation_record=stream.metadata.annotations.get(DEACTIVATED_ANNOTATION),
        report=report,
        quality_set=quality_set,
        playback_policy=playback_policy,
        rules=api.get("ConfigMap", namespace, RULES_CONFIGMAP) if rules_read else None,
        rules_read=rules_read,
        routes=observe_routes(api, stream, admission.route, services["primary"]),
        auto_recording=api.get_custom(RECORDING, namespace, auto_recording_name(name)) if auto else None,
        standby=observe_standby(api, admitted, settings, standby, asks_standby),
        spread=spread(nodes),
        drains={r: why for r in ROLES if (why := drain_reason(pods[r], on.get(pod_node(pods[r])))) is not None},
        budgets={r: api.get("PodDisruptionBudget", namespace, names[r].pod) for r in ROLES},
        releasing_budgets={
            r: api.get("PodDisruptionBudget", namespace, names[r].pod + RELEASING_SUFFIX) for r in ROLES
        },
    )
