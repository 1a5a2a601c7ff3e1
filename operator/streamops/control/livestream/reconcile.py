"""Reconcile one LiveStream's children with its spec: key Secret, ingest Services and Pods, the
auto Recording, the warm recorder. Status is not written here: the status loop (loop.py) computes
it from what is observed, using the outcome this returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from streamops.api import LIVESTREAM, RECORDING, LiveStream
from streamops.contract.edge import EDGE_NAME
from streamops.contract.ingest import Role
from streamops.contract.stream_key import generate_stream_key, srt_passphrase_problem, stream_key_bytes
from streamops.contract.worker_credential import generate_worker_credential
from streamops.control.livestream.admission import admit
from streamops.control.livestream.deactivation import (
    DEACTIVATED_ANNOTATION,
    Deactivation,
    annotation_patch,
    annotation_value,
    in_force,
)
from streamops.control.livestream.edge import ensure_edge, ensure_playback_keys
from streamops.control.livestream.exposure import ServiceObservation, WebRtcAdvertise, ingest_reach, webrtc_advertise
from streamops.control.livestream.specs.auto_recording import auto_recording, auto_recording_name
from streamops.control.livestream.specs.features import ingest_roles, webrtc_on
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.ports import BASE_PORT_NAMES, ingest_port_names
from streamops.control.livestream.specs.route import (
    PlaybackRoute,
    playback_http_route,
    playback_ingress,
    playback_route,
    playback_route_name,
)
from streamops.control.livestream.specs.secret import (
    stream_key_ref,
    stream_key_secret,
    tls_secret_name,
    worker_credential_secret,
)
from streamops.control.livestream.specs.service import ingest_internal_service, ingest_service
from streamops.control.livestream.specs.urls import reach_inputs
from streamops.control.livestream.tls_secret import tls_secret_problem
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.shared.spec_checks import parse, read_secret_key
from streamops.control.shared.tenancy import secret_reference_refusal
from streamops.control.storage.recordings_claim import default_storage, on_default_claim, recordings_claim
from streamops.control.workers.children import ensure_owned, ensure_pod, ensure_service, owned_by, roll_pod
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, IngestPortMap, ingest_names, playback_signed
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.recorder_pod import recorder_standby_pod, standby_pod_name
from streamops.control.workers.restarts import IMMEDIATE, RESTARTS_ANNOTATION, PodChange, pod_difference
from streamops.control.workers.worker_network_policies import WORKER_NETWORK_POLICIES
from streamops.kube.client import ApiError, KubeApi, NamespaceTerminating
from streamops.kube.manifests import Body, Manifest
from streamops.kube.naming import EDGE_OWNER_ANNOTATION, PLAYBACK_ROUTE_ANNOTATION, SPEC_HASH_ANNOTATION

ROLES: tuple[Role, ...] = ("primary", "backup")
ROUTE_KINDS = ("Ingress", "HTTPRoute")


@dataclass(frozen=True)
class StreamOutcome:
    """What reconciling found that only the API can tell (the status loop cannot ask cheaply)."""

    generation: int | None
    invalid_spec: str | None = None
    key_secret_missing: str | None = None
    key_invalid_for_srt: str | None = None  # why SRT cannot use the referenced key (never the key itself)
    host_ports: dict[Role, IngestPortMap] = field(default_factory=dict)
    service_rejected: str | None = None  # the API server's answer to an ingest Service it refused
    route_rejected: str | None = None  # ... to the playback Ingress/HTTPRoute (or: its API is not served)
    edge_rejected: str | None = None  # ... to the namespace's edge (Deployment, Service, autoscaler, routes)
    edge: bool = False  # viewers come through the namespace's edge (its viewer sessions count)
    tls_secret_problem: tuple[str, str] | None = None  # (reason, message): the rtmps certificate's Secret
    # What the admin's tenancy policy refused (admission.py), as status says it; and whether that
    # was the playback route (status then shows no route's URLs).
    policy_refusals: tuple[str, ...] = ()
    route_refused: bool = False
    # The ingest Pods this reconcile created, as the API server answered the create: the status
    # shows them before the Pod watch does (one status write instead of "creating" then "Pending").
    created: dict[Role, PodObservation] = field(default_factory=dict)
    # A pull stream's deactivation in force (deactivation.py): no ingest runs. With the annotation's
    # value as this reconcile read it (the loop reconciles again when the object shows another), and
    # whether this reconcile recorded a worker's report (in force once the object shows it).
    deactivation: Deactivation | None = None
    deactivation_annotation: str | None = None
    deactivation_recorded: bool = False
    # An ingest Pod this reconcile replaced, or keeps until its stream is idle (restarts.py), with
    # the first difference: the loop posts an Event for each, status says RestartPending for a wait.
    pod_changes: dict[Role, PodChange] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyCheck:
    missing: str | None = None  # a referenced Secret (or its key) that does not exist
    refused: str | None = None  # the tenancy policy's refusal of the referenced Secret
    invalid_for_srt: str | None = None  # why SRT cannot take the referenced key as its passphrase


def _ensure_stream_key(api: KubeApi, settings: OperatorSettings, stream: LiveStream) -> KeyCheck:
    """Generate the key Secret when none is referenced (a generated key is always a valid SRT
    passphrase); check a referenced one: it exists, and with srt its length suits SRT. A bad
    length does not keep the ingest from running: RTMP takes any key, and the worker starts no SRT
    listener with it, so fixing the Secret needs no restart (the worker re-reads the key)."""
    ref = stream_key_ref(stream)
    push = stream.spec.source.push
    if ref is None or push is None:
        return KeyCheck()
    if push.stream_key_secret_ref is None:
        api.create(stream_key_secret(stream, generate_stream_key()))  # refused (409) when it exists: fine
        return KeyCheck()
    key = read_secret_key(api, stream.metadata.namespace or "", ref, "source.push.streamKeySecretRef", settings)
    if key.value is None:
        return KeyCheck(missing=key.missing, refused=key.refused)
    problem = srt_passphrase_problem(stream_key_bytes(key.value)) if "srt" in push.protocols else None
    return KeyCheck(invalid_for_srt=problem)


def _ensure_worker_credential(api: KubeApi, stream: LiveStream) -> None:
    """The stream's worker credential Secret, before each new ingest or standby Pod (they mount it;
    the stream's Recordings and Restreams, which follow a running ingest, mount it too): a create
    refused (409) when it exists, only then, so a reconcile that creates nothing writes nothing.
    Kept once created; one re-created (a user deleted it) reaches the running workers through
    their mounts, and the operator reads it again when a worker refuses the one it holds
    (control/workers/worker_credentials.py)."""
    api.create(worker_credential_secret(stream, generate_worker_credential()))  # 409 when it exists: fine


def _ensure_auto_recording(api: KubeApi, stream: LiveStream) -> None:
    """recording.auto keeps one Recording <stream>-auto (owned by the stream) that records every
    live session; switching auto off stops it (videos finalised and kept)."""
    namespace, name = stream.metadata.namespace or "", auto_recording_name(stream.metadata.name)
    current = api.get_custom(RECORDING, namespace, name)
    if current is not None and not owned_by(current, stream.metadata.uid):
        return  # a user's own Recording of that name: leave it alone
    stopped = bool(current and current.get("spec", {}).get("stopped"))
    if stream.spec.recording.auto:
        if current is not None and stopped and not current["metadata"].get("deletionTimestamp"):
            # Switched off and on again: a fresh Recording (the stopped one's videos stay on the claim).
            api.delete_custom(RECORDING, namespace, name, current["metadata"]["uid"])
            current = None
        if current is None:
            api.create_custom(RECORDING, auto_recording(stream))
    elif current is not None and not stopped:
        api.patch_custom(RECORDING, namespace, name, {"spec": {"stopped": True}})


def _ensure_standby(
    api: KubeApi,
    settings: OperatorSettings,
    stream: LiveStream,
    allocator: PortAllocator | None,
    current_name: str | None,
    wanted: bool,
) -> None:
    """`recording.standby`: one warm recorder per active stream. A Recording adopts it (it then
    belongs to the Recording), and the next reconcile starts another under the next free name."""
    namespace, uid = stream.metadata.namespace or "", stream.metadata.uid
    current = api.get("Pod", namespace, current_name) if current_name else None
    if current is not None and not owned_by(current, uid):
        current = None  # adopted meanwhile
    if not wanted:
        ensure_pod(api, None, current, uid)  # (its host port is released when the Pod is gone)
        return
    if current is not None:
        desired = recorder_standby_pod(stream, current["metadata"]["name"], settings, ports_of(current) or None)
        ensure_pod(api, desired, current, uid)
        return
    if api.get("PersistentVolumeClaim", namespace, settings.recordings_claim) is None:
        api.create(recordings_claim(namespace, settings))
    number = 1
    while api.get("Pod", namespace, standby_pod_name(stream.metadata.name, number)) is not None:
        number += 1
    host_ports = allocator.allocate(["http"]) if allocator is not None else None
    _ensure_worker_credential(api, stream)
    pod = recorder_standby_pod(stream, standby_pod_name(stream.metadata.name, number), settings, host_ports)
    if api.create(pod) is None and allocator is not None and host_ports:
        allocator.release(host_ports.values())  # it existed already (the index had not seen it yet)


def _host_ports(
    allocator: PortAllocator | None, service: Manifest | None, names: tuple[str, ...]
) -> IngestPortMap | None:
    """The allocation recorded on the Service, kept (a live ingest keeps its ports), with a port
    added or released when rtmps is switched on or off; a new one when there is none."""
    if allocator is None:
        return None
    ports = ports_of(service)
    if not set(BASE_PORT_NAMES) <= ports.keys():
        return allocator.allocate(names)
    unused = [port for name, port in ports.items() if name not in names]
    if unused:
        allocator.release(unused)
    missing = [name for name in names if name not in ports]
    return {**{n: ports[n] for n in names if n in ports}, **(allocator.allocate(missing) if missing else {})}


def _check_tls_secret(
    api: KubeApi, settings: OperatorSettings, stream: LiveStream
) -> tuple[tuple[str, str] | None, str | None]:
    """(reason, message) of a Secret the ingest cannot use, or the tenancy policy's refusal of it
    (an unlabelled Secret is refused before its keys are looked at)."""
    name = tls_secret_name(stream)
    if name is None:
        return None, None
    secret = api.get("Secret", stream.metadata.namespace or "", name)
    refused = secret_reference_refusal("source.push.tls.secretName", name, secret, settings)
    return (None, refused) if refused is not None else (tls_secret_problem(name, secret), None)


def reconcile_livestream(
    api: KubeApi,
    settings: OperatorSettings,
    body: Body,
    allocator: PortAllocator | None = None,
    auto_recording_exists: bool = True,
    standby: str | None = None,
    deactivated: str | None = None,
    deactivated_pod: str | None = None,
    primary_live: bool | None = None,
    backup_live: bool | None = None,
) -> StreamOutcome:
    """Idempotent: safe to run from any trigger, any number of times. `allocator` is given when
    workers run on the host network; `auto_recording_exists` False (from the operator's index)
    spares a read when auto recording is off; `standby` is the name of the stream's warm recorder
    Pod, when the pod index has one; `deactivated` is why the worker of the primary ingest Pod
    `deactivated_pod` (a uid) says it deactivated itself, when its telemetry says so;
    `primary_live`/`backup_live` whether each ingest has media, as its telemetry last said (None:
    not read yet; status then tells): a live ingest is not restarted for a change that can wait."""
    parsed = parse(LiveStream, body)
    generation, stream = parsed.generation, parsed.obj
    seen = annotation_value(parsed.raw)
    if stream is None:
        return StreamOutcome(generation, invalid_spec=parsed.problem, deactivation_annotation=seen)
    report = (deactivated, deactivated_pod) if deactivated and deactivated_pod else None
    try:
        status = stream.status
        live: dict[Role, bool] = {
            "primary": primary_live if primary_live is not None else bool(status and status.live),
            "backup": backup_live if backup_live is not None else bool(status and status.backup_live),
        }
        outcome = _reconcile(api, settings, stream, allocator, auto_recording_exists, standby, report, live)
    except NamespaceTerminating:
        outcome = StreamOutcome(generation)
    return replace(outcome, deactivation_annotation=seen)


# The API server refusing what the spec asks for (bad value, forbidden by policy, API not served):
# said in status (Stalled) instead of retried as if it were a transient failure.
REFUSALS = frozenset({400, 403, 404, 422})


def refusal(error: ApiError) -> str:
    """The server's message (a Status object's `message`), bounded. Service and route manifests hold
    no key material, so nothing secret can be echoed."""
    try:
        message = str(json.loads(error.body).get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return (message or error.body or f"HTTP {error.status}")[:800]


def _ensure_playback_route(
    api: KubeApi,
    stream: LiveStream,
    route: PlaybackRoute | None,
    had: str | None,
    http_port: int,
) -> str | None:
    """The stream's Ingress or HTTPRoute; a route of the other kind it had (`had`, recorded on the
    ingest Service) is deleted. Returns the server's refusal, if any."""
    namespace, name, uid = (
        stream.metadata.namespace or "",
        playback_route_name(stream.metadata.name),
        stream.metadata.uid,
    )
    for kind in ROUTE_KINDS:
        wanted = route is not None and route.kind == kind
        if not wanted and had != kind:
            continue
        desired = None
        if route is not None and wanted:
            desired = (
                playback_ingress(stream, route) if kind == "Ingress" else playback_http_route(stream, route, http_port)
            )
        try:
            current = api.get(kind, namespace, name)
            ensure_owned(api, desired, current, kind, uid)
            if desired is not None and current is None and api.get(kind, namespace, name) is None:
                # Neither there nor created: the create's 404 (the adapter's None) — the API is not served.
                raise ApiError(404, "")
        except ApiError as e:
            if e.status not in REFUSALS:
                raise
            if e.status == 404:
                group = "gateway.networking.k8s.io/v1" if kind == "HTTPRoute" else "networking.k8s.io/v1"
                return f"the cluster does not serve {kind} ({group}): install its CRDs or remove spec.playback"
            return f"{kind} {name} refused: {refusal(e)}"
    return None


def _deactivation(
    api: KubeApi,
    settings: OperatorSettings,
    stream: LiveStream,
    host_ports: IngestPortMap | None,
    report: tuple[str, str] | None,
    advertise: WebRtcAdvertise | None = None,
) -> tuple[Deactivation | None, bool]:
    """The deactivation in force (no ingest runs), and whether a worker's report was recorded now.
    A record that no longer holds (a new spec, another object) is removed. A report is recorded
    when it comes from the primary ingest Pod the current spec asks for (a spec changed since would
    have rolled it: the fresh Pod pulls again); it is in force once the object shows it, and until
    then the worker that gave up keeps the fact (its Pod is left running idle)."""
    namespace, name = stream.metadata.namespace or "", stream.metadata.name
    recorded, current = stream.metadata.annotations.get(DEACTIVATED_ANNOTATION), in_force(stream)
    wanted = current
    if current is None and report is not None and stream.spec.source.pull is not None and stream.spec.active:
        reason, reporter = report
        running = api.get("Pod", namespace, ingest_names(name, "primary").pod) or {}
        pod = running.get("metadata") or {}
        want = ingest_pod(stream, "primary", settings, host_ports, host_ports, advertise)
        reporting = pod.get("uid") == reporter and not pod.get("deletionTimestamp")
        if reporting and pod_difference(want, running, SPEC_HASH_ANNOTATION) is None:
            wanted = Deactivation(stream.metadata.uid or "", stream.metadata.generation or 0, reason)
    if (wanted is None and recorded is not None) or (wanted is not None and wanted != Deactivation.parse(recorded)):
        api.patch_custom(LIVESTREAM, namespace, name, annotation_patch(wanted))
    return current, wanted is not None and current is None


def _webrtc_advertise(
    stream: LiveStream,
    role: Role,
    settings: OperatorSettings,
    service: Manifest | None,
    host_ports: IngestPortMap | None,
) -> WebRtcAdvertise | None:
    """Where WebRTC peers reach the primary: read from its Service as just created or observed, so
    a new stream's ingest starts with its nodePorts announced."""
    if not webrtc_on(stream, role, settings):
        return None
    reach = ingest_reach(ServiceObservation.of(service), reach_inputs(stream, role, settings, host_ports))
    return webrtc_advertise(reach, stream.spec.ingest.webrtc.advertise_addresses)


def _ensure_internal_service(
    api: KubeApi, stream: LiveStream, role: Role, host_ports: IngestPortMap | None, wanted: bool
) -> None:
    """The role's internal ClusterIP Service while the role runs (its ports are the allocation the
    external Service records, with host networking), none otherwise."""
    namespace, uid = stream.metadata.namespace or "", stream.metadata.uid
    name = ingest_names(stream.metadata.name, role).internal_service
    current = api.get("Service", namespace, name)
    if wanted:
        ensure_service(api, ingest_internal_service(stream, role, host_ports), current, uid)
    elif current is not None and owned_by(current, uid):
        api.delete("Service", namespace, name, current["metadata"]["uid"])


def _reconcile(
    api: KubeApi,
    settings: OperatorSettings,
    stream: LiveStream,
    allocator: PortAllocator | None,
    auto_recording_exists: bool,
    standby: str | None,
    report: tuple[str, str] | None = None,
    live: dict[Role, bool] | None = None,
) -> StreamOutcome:
    namespace, name, uid = stream.metadata.namespace or "", stream.metadata.name, stream.metadata.uid
    live = live or {}
    immediate = stream.metadata.annotations.get(RESTARTS_ANNOTATION) == IMMEDIATE
    pod_changes: dict[Role, PodChange] = {}
    key_check = _ensure_stream_key(api, settings, stream)
    missing_secret = key_check.missing
    tls_problem, tls_refused = _check_tls_secret(api, settings, stream)
    asked_route = playback_route(stream, settings)
    admission = admit(api, settings, stream, asked_route)
    refusals = [r for r in (key_check.refused, tls_refused) if r] + list(admission.refusals)
    # The ingest cannot run without its key or certificate: a refused one stops it (fail closed).
    secrets_usable = missing_secret is None and key_check.refused is None
    stream = admission.stream
    roles = ingest_roles(stream)
    allocated: dict[Role, IngestPortMap] = {}
    created: dict[Role, PodObservation] = {}
    services = {role: api.get("Service", namespace, ingest_names(name, role).service) for role in ROLES}
    for role in roles:
        service = services[role]
        owned = service if owned_by(service, uid) else None
        host_ports = _host_ports(allocator, owned, ingest_port_names(stream, role, settings))
        if host_ports is not None:
            allocated[role] = host_ports
    primary = services["primary"] if owned_by(services["primary"], uid) else None
    route = admission.route
    recorded = (primary or {}).get("metadata", {}).get("annotations") or {}  # on the primary ingest Service
    had = recorded.get(PLAYBACK_ROUTE_ANNOTATION)
    http_port = (allocated.get("primary") or POD_NETWORK_PORTS)["http"]
    # Before the namespace's first worker: it is never reachable without its policies.
    WORKER_NETWORK_POLICIES.ensure(api, namespace, settings.worker_network_policies_file)
    signed = playback_signed(stream, settings)
    if signed:
        ensure_playback_keys(api, namespace)  # before the ingest Pod that mounts it
    edge_rejected: str | None = None
    edge = route is not None and route.edge
    try:  # before the route that sends viewers to it
        if edge or recorded.get(EDGE_OWNER_ANNOTATION) == "true":
            ensure_edge(api, stream, settings, edge, route.path if route else "", public=not signed)
    except ApiError as e:
        if e.status not in REFUSALS:
            raise
        edge_rejected = f"the edge {EDGE_NAME} refused: {refusal(e)}"
    route_rejected = _ensure_playback_route(api, stream, route, had, http_port)
    advertise = _webrtc_advertise(stream, "primary", settings, primary, allocated.get("primary"))
    deactivation, recorded = _deactivation(api, settings, stream, allocated.get("primary"), report, advertise)
    service_rejected: str | None = None
    for role in ROLES:
        names = ingest_names(name, role)
        service = services[role]
        host_ports = allocated.get(role)
        if role in roles:
            # A route the server refused stays recorded as wanted: the next reconcile tries again.
            desired_service = ingest_service(
                stream, role, settings, host_ports, route.kind if route else None, edge and edge_rejected is None
            )
            try:
                service = ensure_service(api, desired_service, service, uid)
            except ApiError as e:
                if e.status not in REFUSALS:
                    raise
                # The Pod still runs (reached as before, or not at all): other roles and streams go on.
                service_rejected = f"Service {names.service} refused: {refusal(e)}"
        elif service is not None and owned_by(service, uid):
            api.delete("Service", namespace, names.service, service["metadata"]["uid"])
            if allocator is not None:
                allocator.release(ports_of(service).values())
        _ensure_internal_service(api, stream, role, host_ports if role in roles else None, role in roles)
        run = role in roles and stream.spec.active and deactivation is None
        run = run and secrets_usable and tls_problem is None and tls_refused is None
        advertise = _webrtc_advertise(stream, role, settings, service, host_ports) if run else None
        desired = ingest_pod(stream, role, settings, host_ports, allocated.get("primary"), advertise) if run else None
        current = api.get("Pod", namespace, names.pod)
        if desired is not None and current is None:
            _ensure_worker_credential(api, stream)
        rolled = roll_pod(api, desired, current, uid, stream.metadata.generation, live.get(role, False), immediate)
        pod = rolled.pod
        if rolled.change.action != "keep":
            pod_changes[role] = rolled.change
        if current is None and pod is not None:
            created[role] = PodObservation.of(names.pod, pod)
    # A standby writes to the default claim: kept only while the stream's Recordings go there.
    standby_usable = on_default_claim(default_storage(stream, settings), settings)
    wants_standby = stream.spec.recording.standby and stream.spec.active and secrets_usable and standby_usable
    wants_standby = wants_standby and deactivation is None
    _ensure_standby(api, settings, stream, allocator, standby, wants_standby)
    if stream.spec.recording.auto or auto_recording_exists:
        _ensure_auto_recording(api, stream)
    return StreamOutcome(
        stream.metadata.generation,
        key_secret_missing=missing_secret,
        key_invalid_for_srt=key_check.invalid_for_srt,
        host_ports=allocated,
        service_rejected=service_rejected,
        route_rejected=route_rejected,
        edge_rejected=edge_rejected,
        edge=edge,
        tls_secret_problem=tls_problem,
        policy_refusals=tuple(refusals),
        route_refused=asked_route is not None and route is None,
        created=created,
        deactivation=deactivation,
        deactivation_recorded=recorded,
        pod_changes=pod_changes,
    )
