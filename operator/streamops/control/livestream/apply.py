"""Carry out a LiveStream's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the generated key, the host ports,
the namespace's worker policies, the playback keys, the edge, the route, the deactivation record,
then per role its Services and Pod, the warm recorder, the auto Recording. Where a manifest depends
on a write's answer (the host ports allocated, a Service as the server answered it, the edge
refused), this asks plan.py's second-phase functions for it at that point."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from streamops.api import LIVESTREAM, RECORDING, LiveStream
from streamops.contract.edge import EDGE_NAME
from streamops.contract.ingest import Role
from streamops.contract.stream_key import generate_stream_key
from streamops.contract.worker_credential import generate_worker_credential
from streamops.control.livestream.edge import ensure_edge, ensure_playback_keys
from streamops.control.livestream.observation import ROLES, Observed
from streamops.control.livestream.plan import (
    Plan,
    deactivation_patch,
    recorded_deactivation,
    wanted_internal_service,
    wanted_pod,
    wanted_region_services,
    wanted_routes,
    wanted_service,
)
from streamops.control.livestream.specs.auto_recording import auto_recording, auto_recording_name
from streamops.control.livestream.specs.ports import BASE_PORT_NAMES
from streamops.control.livestream.specs.route import RouteKind, playback_route_name
from streamops.control.livestream.specs.secret import stream_key_secret, worker_credential_secret
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import recorder_standby_pod, standby_pod_name
from streamops.control.storage.recordings_claim import recordings_claim
from streamops.control.workers.children import ensure_owned, ensure_pod, ensure_service, roll_pod
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, IngestPortMap, ingest_names
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import PodChange
from streamops.control.workers.worker_network_policies import WORKER_NETWORK_POLICIES
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.naming import owned_by

# The API server refusing what the spec asks for (bad value, forbidden by policy, API not served):
# said in status (Stalled) instead of retried as if it were a transient failure.
REFUSALS = frozenset({400, 403, 404, 422})


@dataclass(frozen=True)
class Applied:
    """What carrying out the plan found that only the writes could tell."""

    host_ports: dict[Role, IngestPortMap] = field(default_factory=dict)
    service_rejected: str | None = None  # the API server's answer to an ingest Service it refused
    route_rejected: str | None = None  # ... to the playback Ingress/HTTPRoute (or: its API is not served)
    edge_rejected: str | None = None  # ... to the namespace's edge
    created: dict[Role, PodObservation] = field(default_factory=dict)  # the ingest Pods created, as answered
    deactivation_recorded: bool = False  # a worker's report of its deactivation was recorded now
    pod_changes: dict[Role, PodChange] = field(default_factory=dict)  # replaced, or waiting for an idle ingest
    region_rejected: dict[str, str] = field(default_factory=dict)  # a region's Service the server refused


def refusal(error: ApiError) -> str:
    """The server's message (a Status object's `message`), bounded. Service and route manifests hold
    no key material, so nothing secret can be echoed."""
    try:
        message = str(json.loads(error.body).get("message") or "")
    except (ValueError, AttributeError):
        message = ""
    return (message or error.body or f"HTTP {error.status}")[:800]


def ensure_worker_credential(api: KubeApi, stream: LiveStream) -> None:
    """The stream's worker credential Secret, before each new ingest or standby Pod (they mount it;
    the stream's Recordings and Restreams, which follow a running ingest, mount it too): a create
    refused (409) when it exists, only then, so a reconcile that creates nothing writes nothing.
    Kept once created; one re-created (a user deleted it) reaches the running workers through
    their mounts, and the operator reads it again when a worker refuses the one it holds
    (control/workers/worker_credentials.py)."""
    api.create(worker_credential_secret(stream, generate_worker_credential()))  # 409 when it exists: fine


def ensure_auto_recording(api: KubeApi, stream: LiveStream) -> None:
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


def ensure_standby(
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
    if api.get("PersistentVolumeClaim", namespace, settings.recordings.claim) is None:
        api.create(recordings_claim(namespace, settings.recordings))
    number = 1
    while api.get("Pod", namespace, standby_pod_name(stream.metadata.name, number)) is not None:
        number += 1
    host_ports = allocator.allocate(["http"]) if allocator is not None else None
    ensure_worker_credential(api, stream)
    pod = recorder_standby_pod(stream, standby_pod_name(stream.metadata.name, number), settings, host_ports)
    if api.create(pod) is None and allocator is not None and host_ports:
        allocator.release(host_ports.values())  # it existed already (the index had not seen it yet)


def allocate_host_ports(
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


def ensure_playback_route(api: KubeApi, stream: LiveStream, wanted: dict[RouteKind, Manifest | None]) -> str | None:
    """The stream's Ingress or HTTPRoute, and a route of the other kind it had deleted (plan.py's
    wanted_routes). Returns the server's refusal, if any."""
    namespace, name, uid = (
        stream.metadata.namespace or "",
        playback_route_name(stream.metadata.name),
        stream.metadata.uid,
    )
    for kind, desired in wanted.items():
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


def _ensure_internal_service(
    api: KubeApi, stream: LiveStream, role: Role, desired: Manifest | None, current: Manifest | None
) -> None:
    """The role's internal Service as planned, or an owned one deleted."""
    namespace, uid = stream.metadata.namespace or "", stream.metadata.uid
    if desired is not None:
        ensure_service(api, desired, current, uid)
    elif current is not None and owned_by(current, uid):
        name = ingest_names(stream.metadata.name, role).internal_service
        api.delete("Service", namespace, name, current["metadata"]["uid"])


def ensure_region_services(
    api: KubeApi, plan: Plan, observed: Observed, wanted: dict[str, Manifest | None], removed: bool
) -> dict[str, str]:
    """The LoadBalancer regions' Services (plan.py's wanted_region_services): `removed` True deletes
    those no longer wanted (before the primary Service stops recording them: a failure leaves the
    record, and the next reconcile deletes again), False creates or patches the wanted ones (after
    the primary Service records them: none is ever made unrecorded). Returns the server's refusals
    by region; a refused region does not hold up the stream (its default URLs work)."""
    uid, refused = plan.stream.metadata.uid, {}
    for region, desired in wanted.items():
        current = observed.region_services.get(region)
        if desired is None and removed and current is not None and owned_by(current, uid):
            meta = current["metadata"]
            api.delete("Service", meta.get("namespace") or "", meta["name"], meta.get("uid"))
        elif desired is not None and not removed:
            try:
                ensure_service(api, desired, current, uid)
            except ApiError as e:
                if e.status not in REFUSALS:
                    raise
                refused[region] = f"Service {desired['metadata']['name']} refused: {refusal(e)}"
    return refused


def apply_plan(  # noqa: C901 (listed in ruff.toml: split it when next changed)
    api: KubeApi,
    settings: OperatorSettings,
    plan: Plan,
    observed: Observed,
    stream: LiveStream,
    allocator: PortAllocator | None,
    standby: str | None,
) -> Applied:
    """`stream`: the object as read (its generated key is made from it; `plan.stream` is what the
    policy admits); `allocator` is given when workers run on the host network; `standby` is the name
    of the stream's warm recorder Pod, when the pod index has one."""
    admitted = plan.stream
    namespace, name, uid = admitted.metadata.namespace or "", admitted.metadata.name, admitted.metadata.uid
    if plan.generate_key:
        api.create(stream_key_secret(stream, generate_stream_key()))  # refused (409) when it exists: fine
    allocated: dict[Role, IngestPortMap] = {}
    for role in ROLES:
        wants = plan.roles[role]
        if wants.services:
            service = observed.services[role]
            owned = service if owned_by(service, uid) else None
            host_ports = allocate_host_ports(allocator, owned, wants.port_names)
            if host_ports is not None:
                allocated[role] = host_ports
    # Before the namespace's first worker: it is never reachable without its policies.
    WORKER_NETWORK_POLICIES.ensure(api, namespace, settings.worker.network_policies_file)
    if plan.signed:
        ensure_playback_keys(api, namespace)  # before the ingest Pod that mounts it
    edge_rejected: str | None = None
    route = plan.route
    try:  # before the route that sends viewers to it
        if plan.edge or plan.edge_owner:
            ensure_edge(api, admitted, settings, plan.edge, route.path if route else "", public=not plan.signed)
    except ApiError as e:
        if e.status not in REFUSALS:
            raise
        edge_rejected = f"the edge {EDGE_NAME} refused: {refusal(e)}"
    http_port = (allocated.get("primary") or POD_NETWORK_PORTS)["http"]
    route_rejected = ensure_playback_route(api, admitted, wanted_routes(plan, http_port))
    deactivation = recorded_deactivation(plan, settings, observed, allocated.get("primary"))
    patch = deactivation_patch(deactivation, observed)
    if patch is not None:
        api.patch_custom(LIVESTREAM, namespace, name, patch)
    regions = wanted_region_services(plan, settings, allocated.get("primary"))
    ensure_region_services(api, plan, observed, regions, removed=True)
    region_rejected: dict[str, str] = {}
    service_rejected: str | None = None
    created: dict[Role, PodObservation] = {}
    pod_changes: dict[Role, PodChange] = {}
    for role in ROLES:
        wants, names = plan.roles[role], ingest_names(name, role)
        service = observed.services[role]
        host_ports = allocated.get(role)
        if wants.services:
            desired_service = wanted_service(plan, role, settings, host_ports, edge_rejected is not None)
            try:
                service = ensure_service(api, desired_service, service, uid)
            except ApiError as e:
                if e.status not in REFUSALS:
                    raise
                # The Pod still runs (reached as before, or not at all): other roles and streams go on.
                service_rejected = f"Service {names.service} refused: {refusal(e)}"
            else:
                if role == "primary" and service is not None:  # ours, and it records them: they may follow
                    region_rejected = ensure_region_services(api, plan, observed, regions, removed=False)
        elif service is not None and owned_by(service, uid):
            api.delete("Service", namespace, names.service, service["metadata"]["uid"])
            if allocator is not None:
                allocator.release(ports_of(service).values())
        internal = wanted_internal_service(plan, role, host_ports)
        _ensure_internal_service(api, admitted, role, internal, observed.internal_services[role])
        if wants.hold:
            continue  # its quality set is missing: the Pod that runs is kept as it is, none is made
        desired = wanted_pod(plan, role, settings, host_ports, allocated.get("primary"), service)
        current = observed.pods[role]
        if desired is not None and current is None:
            ensure_worker_credential(api, admitted)
        rolled = roll_pod(api, desired, current, uid, admitted.metadata.generation, wants.live, plan.immediate)
        if rolled.change.action != "keep":
            pod_changes[role] = rolled.change
        if current is None and rolled.pod is not None:
            created[role] = PodObservation.of(names.pod, rolled.pod)
    ensure_standby(api, settings, admitted, allocator, standby, plan.standby)
    if plan.auto_recording:
        ensure_auto_recording(api, admitted)
    return Applied(
        host_ports=allocated,
        service_rejected=service_rejected,
        route_rejected=route_rejected,
        edge_rejected=edge_rejected,
        created=created,
        deactivation_recorded=deactivation is not None and plan.deactivation is None,
        pod_changes=pod_changes,
        region_rejected=region_rejected,
    )
