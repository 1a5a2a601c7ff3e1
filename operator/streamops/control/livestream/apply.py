"""Carry out a LiveStream's plan (plan.py) through the actuators of control/workers/children.py, in
the order the writes must come (docs/design/reconcile-plan.md): the generated key, the host ports,
the namespace's worker policies, the playback keys, the route, the deactivation record, then per
role its Services and Pod, the warm recorder, the auto Recording. Where a manifest depends on a
write's answer (the host ports allocated, a Service as the server answered it), this asks plan.py's
second-phase functions for it at that point. The namespace's edge is its own controller's
(control/edge/): the primary Service records that the stream wants it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamops.api import LIVESTREAM, RECORDING, LiveStream
from streamops.contract.ingest import RULES_CONFIGMAP, Role
from streamops.contract.playback_token import KEYS_SECRET
from streamops.contract.stream_key import generate_stream_key
from streamops.contract.worker_credential import generate_worker_credential
from streamops.control.livestream.handover_abort import HandoverCancel
from streamops.control.livestream.observation import ROLES, Observed
from streamops.control.livestream.plan import (
    AutoRecording,
    Plan,
    Successor,
    deactivation_patch,
    in_handover,
    in_slot,
    plan_successor,
    recorded_deactivation,
    wanted_budget,
    wanted_internal_service,
    wanted_pod,
    wanted_region_services,
    wanted_releasing_budget,
    wanted_routes,
    wanted_service,
    wanted_standby,
)
from streamops.control.livestream.playback_keys import playback_keys_secret
from streamops.control.livestream.specs.auto_recording import auto_recording_name
from streamops.control.livestream.specs.ports import BASE_PORT_NAMES
from streamops.control.livestream.specs.route import RouteKind, playback_route_name
from streamops.control.livestream.specs.secret import stream_key_secret, worker_credential_secret
from streamops.control.shared.api_refusals import REFUSALS, refusal
from streamops.control.shared.edge_refusals import EDGE_REFUSALS
from streamops.control.shared.playback_policies import rules_configmap
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.children import ensure_owned, ensure_pod, ensure_service, roll_pod
from streamops.control.workers.handover_marks import handed_over_at, is_serving, serve_patch
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, IngestPortMap, ingest_names, ingest_slots
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.restarts import PodChange
from streamops.control.workers.worker_network_policies import WORKER_NETWORK_POLICIES
from streamops.kube.client import ApiError, KubeApi
from streamops.kube.manifests import Manifest
from streamops.kube.naming import owned_by


@dataclass(frozen=True)
class Applied:
    """What carrying out the plan found that only the writes could tell."""

    host_ports: dict[Role, IngestPortMap] = field(default_factory=dict)
    service_rejected: str | None = None  # the API server's answer to an ingest Service it refused
    route_rejected: str | None = None  # ... to the playback Ingress/HTTPRoute (or: its API is not served)
    edge_rejected: str | None = None  # ... to the namespace's edge (its controller's, control/edge/)
    created: dict[Role, PodObservation] = field(default_factory=dict)  # the ingest Pods created, as answered
    deactivation_recorded: bool = False  # a worker's report of its deactivation was recorded now
    pod_changes: dict[Role, PodChange] = field(default_factory=dict)  # replaced, or waiting for an idle ingest
    region_rejected: dict[str, str] = field(default_factory=dict)  # a region's Service the server refused
    cancels: dict[Role, HandoverCancel] = field(default_factory=dict)  # successors no longer wanted (the loop's)
    replaced: dict[Role, str] = field(default_factory=dict)  # the name of the Pod replaced (either slot)


def ensure_playback_keys(api: KubeApi, namespace: str) -> None:
    """Create the namespace's keys Secret when missing (never replaced: a 409 means it exists)."""
    if api.get("Secret", namespace, KEYS_SECRET) is None:
        api.create(playback_keys_secret(namespace, datetime.now(UTC)))


def ensure_worker_credential(api: KubeApi, stream: LiveStream) -> None:
    """The stream's worker credential Secret, before each new ingest or standby Pod (they mount it;
    the stream's Recordings and Restreams, which follow a running ingest, mount it too): a create
    refused (409) when it exists, only then, so a reconcile that creates nothing writes nothing.
    Kept once created; one re-created (a user deleted it) reaches the running workers through
    their mounts, and the operator reads it again when a worker refuses the one it holds
    (control/workers/worker_credentials.py)."""
    api.create(worker_credential_secret(stream, generate_worker_credential()))  # 409 when it exists: fine


def apply_auto_recording(api: KubeApi, plan: AutoRecording, namespace: str, name: str) -> None:
    """The auto Recording's writes (plan.py's plan_auto_recording), in order: the stopped one deleted
    before the fresh one is created (a create the server refuses with 409 while it goes: the next
    reconcile creates it)."""
    if plan.delete is not None:
        api.delete_custom(RECORDING, namespace, name, plan.delete["metadata"]["uid"])
    if plan.create is not None:
        api.create_custom(RECORDING, plan.create)
    if plan.stop:
        api.patch_custom(RECORDING, namespace, name, {"spec": {"stopped": True}})


def apply_standby(
    api: KubeApi, settings: OperatorSettings, plan: Plan, allocator: PortAllocator | None, uid: str | None
) -> None:
    """The warm recorder's writes (plan.py's plan_standby): the running one kept or removed (its host
    port is released when the Pod is gone), or the claim then a new one on a port allocated now."""
    standby = plan.standby_recorder
    if standby.new_name is None:
        ensure_pod(api, standby.desired, standby.current, uid)
        return
    if standby.claim is not None:
        api.create(standby.claim)
    host_ports = allocator.allocate(["http"]) if allocator is not None else None
    ensure_worker_credential(api, plan.stream)
    pod = wanted_standby(plan, settings, host_ports)
    if pod is not None and api.create(pod) is None and allocator is not None and host_ports:
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


def ensure_playback_route(
    api: KubeApi, stream: LiveStream, wanted: dict[RouteKind, Manifest | None], observed: Observed
) -> str | None:
    """The stream's Ingress or HTTPRoute, and a route of the other kind it had deleted (plan.py's
    wanted_routes), against each as observed. Returns the server's refusal, if any."""
    name, uid = playback_route_name(stream.metadata.name), stream.metadata.uid
    for kind, desired in wanted.items():
        current = observed.routes.get(kind)
        try:
            if desired is not None and current is None:
                # Not there when observed, and not created: the create's 404 (the adapter's None) — the
                # API is not served (a 409 would need another writer of the stream's own route name).
                if api.create(desired) is None:
                    raise ApiError(404, "")
            else:
                ensure_owned(api, desired, current, kind, uid)
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


def apply_plan(
    api: KubeApi,
    settings: OperatorSettings,
    plan: Plan,
    observed: Observed,
    stream: LiveStream,
    allocator: PortAllocator | None,
) -> Applied:
    """`stream`: the object as read (its generated key is made from it; `plan.stream` is what the
    policy admits); `allocator` is given when workers run on the host network."""
    admitted = plan.stream
    namespace, name = admitted.metadata.namespace or "", admitted.metadata.name
    if plan.generate_key:
        api.create(stream_key_secret(stream, generate_stream_key()))  # refused (409) when it exists: fine
    allocated = allocate_roles(plan, observed, allocator)
    # Before the namespace's first worker: it is never reachable without its policies.
    WORKER_NETWORK_POLICIES.ensure(api, namespace, settings.worker.network_policies_file)
    if plan.signed:
        ensure_playback_keys(api, namespace)  # before the ingest Pod that mounts it
    apply_stream_rules(api, namespace, plan)  # before an ingest Pod that mounts its key
    edge_rejected = EDGE_REFUSALS.of(namespace) if plan.edge else None  # (control/edge/ says it)
    http_port = (allocated.get("primary") or POD_NETWORK_PORTS)["http"]
    route_rejected = ensure_playback_route(api, admitted, wanted_routes(plan, http_port), observed)
    deactivation = recorded_deactivation(plan, settings, observed, allocated.get("primary"))
    patch = deactivation_patch(deactivation, observed)
    if patch is not None:
        api.patch_custom(LIVESTREAM, namespace, name, patch)
    regions = wanted_region_services(plan, settings, allocated.get("primary"))
    ensure_region_services(api, plan, observed, regions, removed=True)
    roles = RolesApplied()
    for role in ROLES:
        apply_role(api, settings, plan, observed, role, allocated, allocator, regions, roles)
    apply_standby(api, settings, plan, allocator, admitted.metadata.uid)
    apply_auto_recording(api, plan.auto_recording, namespace, auto_recording_name(name))
    return Applied(
        host_ports=allocated,
        service_rejected=roles.service_rejected,
        route_rejected=route_rejected,
        edge_rejected=edge_rejected,
        created=roles.created,
        deactivation_recorded=deactivation is not None and plan.deactivation is None,
        pod_changes=roles.pod_changes,
        region_rejected=roles.region_rejected,
        cancels=roles.cancels,
        replaced=roles.replaced,
    )


def apply_stream_rules(api: KubeApi, namespace: str, plan: Plan) -> None:
    """The stream's key of the namespace's rules ConfigMap as its PlaybackPolicy says (removed: it names
    none, or a missing one), merge-patched: each stream writes its own key only."""
    if plan.rules is None:
        return
    data = {k: v for k, v in plan.rules["data"].items() if v is not None}
    if plan.rules_create and (not data or api.create({**rules_configmap(namespace), "data": data}) is not None):
        return  # (None from create: made meanwhile by another stream's reconcile, patched below)
    if not api.patch("ConfigMap", namespace, RULES_CONFIGMAP, plan.rules) and data:
        api.create({**rules_configmap(namespace), "data": data})


def allocate_roles(plan: Plan, observed: Observed, allocator: PortAllocator | None) -> dict[Role, IngestPortMap]:
    """Each role's host ports (only with an allocator: workers on the host network)."""
    allocated: dict[Role, IngestPortMap] = {}
    for role in ROLES:
        wants = plan.roles[role]
        if wants.services:
            service = observed.services[role]
            owned = service if owned_by(service, plan.stream.metadata.uid) else None
            host_ports = allocate_host_ports(allocator, owned, wants.port_names)
            if host_ports is not None:
                allocated[role] = host_ports
    return allocated


@dataclass
class RolesApplied:
    """What the roles' writes answered, gathered role by role."""

    service_rejected: str | None = None
    region_rejected: dict[str, str] = field(default_factory=dict)
    created: dict[Role, PodObservation] = field(default_factory=dict)
    pod_changes: dict[Role, PodChange] = field(default_factory=dict)
    cancels: dict[Role, HandoverCancel] = field(default_factory=dict)
    replaced: dict[Role, str] = field(default_factory=dict)


def apply_role(
    api: KubeApi,
    settings: OperatorSettings,
    plan: Plan,
    observed: Observed,
    role: Role,
    allocated: dict[Role, IngestPortMap],
    allocator: PortAllocator | None,
    regions: dict[str, Manifest | None],
    out: RolesApplied,
) -> None:
    """One role's external Service (then, for the primary, the regions' Services it records), its
    internal Service, its ingest Pod; what the server answered goes into `out`."""
    admitted = plan.stream
    wants, names, uid = plan.roles[role], ingest_names(admitted.metadata.name, role), admitted.metadata.uid
    service = observed.services[role]
    host_ports = allocated.get(role)
    current = observed.pods[role]
    label_serving(api, current, uid)  # before any Service selects by it
    if wants.services:
        try:
            service = ensure_service(api, wanted_service(plan, role, settings, host_ports), service, uid)
        except ApiError as e:
            if e.status not in REFUSALS:
                raise
            # The Pod still runs (reached as before, or not at all): other roles and streams go on.
            out.service_rejected = f"Service {names.service} refused: {refusal(e)}"
        else:
            if role == "primary" and service is not None:  # ours, and it records them: they may follow
                out.region_rejected = ensure_region_services(api, plan, observed, regions, removed=False)
    elif service is not None and owned_by(service, uid):
        api.delete("Service", admitted.metadata.namespace or "", names.service, service["metadata"]["uid"])
        if allocator is not None:
            allocator.release(ports_of(service).values())
    internal = wanted_internal_service(plan, role, host_ports)
    _ensure_internal_service(api, admitted, role, internal, observed.internal_services[role])
    budget = wanted_budget(plan, role)
    ensure_owned(api, budget, observed.budgets.get(role), "PodDisruptionBudget", uid)
    releasing = wanted_releasing_budget(plan, role)
    ensure_owned(api, releasing, observed.releasing_budgets.get(role), "PodDisruptionBudget", uid)
    if wants.hold:
        return  # its quality set is missing: the Pod that runs is kept as it is, none is made
    desired = wanted_pod(plan, role, settings, host_ports, allocated.get("primary"), service)
    if desired is not None:  # under the serving Pod's name (either slot), labelled serving
        desired = in_slot(desired, current["metadata"]["name"] if current is not None else names.pod, serving=True)
    if desired is not None and current is None:
        ensure_worker_credential(api, admitted)
    generation = admitted.metadata.generation
    other = observed.others.get(role)
    # A Pod handing over is busy whatever its media (a release cuts it): never replaced under its successor.
    busy = wants.live or in_handover(current, other)
    rolled = roll_pod(api, desired, current, uid, generation, busy, plan.immediate, wants.drain, handover=plan.handover)
    successor = apply_successor(api, admitted, role, desired, current, other, rolled.change)
    change = successor.change
    if successor.cancel is not None:
        out.cancels[role] = successor.cancel
    if change.action != "keep":
        out.pod_changes[role] = change
    if change.action == "replace" and current is not None:
        out.replaced[role] = current["metadata"]["name"]
    if current is None and rolled.pod is not None:
        out.created[role] = PodObservation.of(names.pod, rolled.pod)


def label_serving(api: KubeApi, current: Manifest | None, uid: str | None) -> None:
    """A serving Pod without the label (one from an operator before handovers, or a successor
    whose predecessor is gone) is labelled (no restart), before its Services select by the label:
    the selector's new label cuts nothing. Never one handed over: it takes no media (the status loop
    deletes it when its successor is gone)."""
    if current is None or not owned_by(current, uid) or is_serving(current) or handed_over_at(current) is not None:
        return
    meta = current["metadata"]
    if not meta.get("deletionTimestamp"):  # (the uid: never another Pod of the name)
        patch = serve_patch()
        patch["metadata"]["uid"] = meta.get("uid")
        api.patch("Pod", meta.get("namespace") or "", meta["name"], patch)


def apply_successor(
    api: KubeApi,
    stream: LiveStream,
    role: Role,
    desired: Manifest | None,
    current: Manifest | None,
    other: Manifest | None,
    change: PodChange,
) -> Successor:
    """The role's other slot (plan.py's plan_successor): a stale Pod there deleted, a handover's
    successor created. Returns the decision (its change as status tells it, a cancel for the loop)."""
    if other is not None and not owned_by(other, stream.metadata.uid):
        other = None  # someone else's Pod by that name: never touched
    slots = ingest_slots(stream.metadata.name, role)
    generation = stream.metadata.generation
    successor = plan_successor(desired, current, other, change, slots, generation, datetime.now(UTC))
    namespace = stream.metadata.namespace or ""
    if successor.delete is not None:
        meta = successor.delete["metadata"]
        api.delete("Pod", namespace, meta["name"], meta.get("uid"))
    if successor.create is not None:
        ensure_worker_credential(api, stream)
        api.create(successor.create)  # a 409 (the index had not seen it yet): the next reconcile sees it
    return successor
