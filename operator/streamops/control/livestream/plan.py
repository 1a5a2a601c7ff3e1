"""What a LiveStream's reconcile wants, decided from the spec, the settings and what observe.py read:
pure, no API call (docs/design/reconcile-plan.md). Two phases: plan_children() decides everything
that needs no write (which roles run, the ladder of the quality set it names, the route, the edge,
the standby, the auto Recording, whether a key is generated, which host ports each role needs); the
functions below it build the manifests
that depend on what a write returned (the host ports the allocator gave, a Service as the API
server answered it), and apply.py calls them at that point."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from streamops.api import LiveStream
from streamops.contract.ingest import Role
from streamops.control.livestream.deactivation import Deactivation, annotation_patch
from streamops.control.livestream.exposure import ServiceObservation, WebRtcAdvertise, ingest_reach, webrtc_advertise
from streamops.control.livestream.handover_abort import HandoverCancel
from streamops.control.livestream.observation import ROLES, ROUTE_KINDS, Observed, StandbyObserved, recorded_regions
from streamops.control.livestream.specs.auto_recording import auto_recording
from streamops.control.livestream.specs.disruption_budget import (
    ingest_disruption_budget,
    releasing_disruption_budget,
)
from streamops.control.livestream.specs.features import ingest_roles, webrtc_on
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.ports import ingest_port_names
from streamops.control.livestream.specs.region_service import region_service
from streamops.control.livestream.specs.route import (
    PlaybackRoute,
    RouteKind,
    playback_http_route,
    playback_ingress,
)
from streamops.control.livestream.specs.service import ingest_internal_service, ingest_service, ingest_service_options
from streamops.control.livestream.specs.urls import reach_inputs
from streamops.control.shared.playback_policies import PolicyLookup, rules_patch, wanted_rules
from streamops.control.shared.quality_sets import LADDER_PARTS, QualitySetLookup, resolved
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import regional_load_balancers_allowed
from streamops.control.storage.recorder_pod import recorder_standby_pod
from streamops.control.storage.recordings_claim import default_storage, on_default_claim, recordings_claim
from streamops.control.workers.drain import NODE_PART, pod_node
from streamops.control.workers.handover_marks import (
    SERVING,
    SERVING_LABEL,
    handed_over_at,
    handover_for,
    successor_of,
)
from streamops.control.workers.ingest_address import IngestPortMap, playback_signed
from streamops.control.workers.placement import UNSEEN, Spread
from streamops.control.workers.ports import ports_of
from streamops.control.workers.restarts import BUILT_FOR_ANNOTATION, BUILT_FROM_ANNOTATION, PodChange, pod_difference
from streamops.control.workers.successor_pod import held, other_slot, successor_annotations
from streamops.kube.manifests import Manifest
from streamops.kube.naming import PLAYBACK_ROUTE_ANNOTATION, edge_owner_value, owned_by


@dataclass(frozen=True)
class RolePlan:
    """One ingest role's children."""

    services: bool  # its Services exist (the stream has the role); else owned ones are deleted
    ingest: bool  # its ingest Pod runs; else an owned one is deleted
    port_names: tuple[str, ...] = ()  # what it is given on the host network (when workers run there)
    live: bool = False  # its ingest had media at the last look: a change that can wait waits
    # Its ingest would run, but the quality set it names is missing: a running Pod is kept as it is
    # (its ladder included), none is made, none is deleted.
    hold: bool = False
    drain: str | None = None  # its ingest Pod's node is cordoned: why it moves (workers/drain.py)


@dataclass(frozen=True)
class AutoRecording:
    """What becomes of the Recording <stream>-auto (recording.auto keeps one that records every
    live session; switching auto off stops it, its videos finalised and kept)."""

    delete: Manifest | None = None  # a stopped one, auto switched on again: deleted (its videos stay)
    create: Manifest | None = None  # a fresh one
    stop: bool = False  # auto switched off: the running one is stopped (spec.stopped)


@dataclass(frozen=True)
class Standby:
    """The warm recorder (recording.standby): one per active stream. A Recording adopts it (it then
    belongs to the Recording), and the next reconcile starts another under the next free name."""

    current: Manifest | None = None  # the stream's own, running
    desired: Manifest | None = None  # ... as wanted, on its own host port (None: it goes)
    new_name: str | None = None  # a new one (its manifest once its host port is allocated: wanted_standby)
    claim: Manifest | None = None  # the default recordings claim a new one needs, created first


@dataclass(frozen=True)
class Plan:
    """What the reconcile wants, before any write. `stream` is the stream as the tenancy policy
    admits it, the renditions of the quality set it names inline: the children are built from it."""

    stream: LiveStream
    roles: dict[Role, RolePlan]
    generate_key: bool  # create the generated key's Secret (a create refused when it exists)
    route: PlaybackRoute | None  # the playback route (None: none, or refused)
    had_route: str | None  # the route kind recorded on the primary ingest Service (one to delete)
    edge: bool  # viewers come through the namespace's edge
    signed: bool  # playback needs tokens: the keys Secret before the ingest Pod that mounts it
    standby: bool  # a warm recorder is wanted
    auto_recording: AutoRecording  # the auto Recording's writes (none when it is as wanted)
    deactivation: Deactivation | None  # the deactivation in force: no ingest runs
    refusals: tuple[str, ...] = ()  # the tenancy policy's, as status says them
    route_refused: bool = False  # the route asked for was refused by the policy
    immediate: bool = False  # the owner asks for a pending restart now (restarts.py)
    handover: bool = False  # a busy ingest that differs is handed over (the restart policy handover)
    # A worker's report of its deactivation, worth checking against the running Pod (recorded_deactivation).
    report: tuple[str, str] | None = None
    quality_set: QualitySetLookup | None = None  # the set the stream names, as read (missing or not)
    playback_policy: PolicyLookup | None = None  # the PlaybackPolicy the stream names, as read
    # The merge patch of the namespace's rules ConfigMap that gives the stream's key its rules (or
    # removes it); `rules_create`: there is no ConfigMap yet, the patch's data creates it.
    rules: Manifest | None = None
    rules_create: bool = False
    # The LoadBalancer regions whose Services the stream wants, in the operator's order, and those
    # the primary Service records it has (any not wanted is deleted).
    regions: tuple[str, ...] = ()
    had_regions: tuple[str, ...] = ()
    standby_recorder: Standby = Standby()  # the warm recorder's writes
    spread: Spread = UNSEEN  # how far the backup keeps from its primary (workers/placement.py)
    budgets: bool = False  # each running ingest has its PodDisruptionBudget (restart policy handover)


def plan_children(
    stream: LiveStream,
    settings: OperatorSettings,
    observed: Observed,
    live: dict[Role, bool],
    immediate: bool,
    auto_recording_exists: bool = True,
    recorder_running: bool = False,
    handover: bool = False,
) -> Plan:
    """Pure. `live`: whether each ingest has media (a restart waits while it does, unless
    `immediate`); `auto_recording_exists` False (from the operator's index): none is left to stop
    when auto recording is off; `recorder_running`: a Recording of the stream has its recorder Pod (the
    adopted standby, or its own), so no other warm recorder is kept beside it (issue 53: at most
    ingest, one recorder per Recording, one pusher; the next standby starts when it ends)."""
    key, admission = observed.key, observed.admission
    lookup = observed.quality_set
    admitted = resolved(admission.stream, lookup)
    ladder_missing = lookup is not None and lookup.missing
    refusals = [r for r in (key.refused, observed.tls_refused) if r] + list(admission.refusals)
    # The ingest cannot run without its key or certificate: a refused one stops it (fail closed).
    secrets_usable = key.missing is None and key.refused is None
    certificate_usable = observed.tls_problem is None and observed.tls_refused is None
    deactivation = observed.deactivation
    roles = ingest_roles(admitted)
    run = admitted.spec.active and deactivation is None and secrets_usable and certificate_usable
    # What the primary ingest Service records: the route the stream had.
    primary = _owned(observed.services.get("primary"), admitted) or {}
    annotations = primary.get("metadata", {}).get("annotations") or {}
    route = admission.route
    # A standby writes to the default claim: kept only while the stream's Recordings go there.
    standby_usable = on_default_claim(default_storage(admitted, settings.recordings), settings.recordings)
    standby = (
        admitted.spec.recording.standby
        and admitted.spec.active
        and secrets_usable
        and standby_usable
        and not recorder_running
    )
    push = stream.spec.source.push
    # A region is a way into the primary's push ports from outside: only for a push stream whose own
    # Service is external (a ClusterIP stream is kept inside the cluster), and a region's public load
    # balancer only where the stream may have one (tenancy.py: never by widening its own type).
    external = ingest_service_options(admitted, settings.ingest).type in ("NodePort", "LoadBalancer")
    balanced = regional_load_balancers_allowed(stream.spec.ingest.service.type, settings)
    pushed = admitted.spec.source.push is not None
    regions = settings.ingest.load_balancer_regions if external and balanced and pushed else ()
    return Plan(
        stream=admitted,
        roles={
            role: RolePlan(
                services=role in roles,
                ingest=role in roles and run and not ladder_missing,
                port_names=ingest_port_names(admitted, role, settings) if role in roles else (),
                live=live.get(role, False),
                hold=role in roles and run and ladder_missing,
                drain=observed.drains.get(role),
            )
            for role in ROLES
        },
        generate_key=push is not None and push.stream_key_secret_ref is None,
        route=route,
        had_route=annotations.get(PLAYBACK_ROUTE_ANNOTATION),
        edge=route is not None and route.edge,
        signed=playback_signed(admitted, settings.playback),
        standby=standby and deactivation is None,
        auto_recording=plan_auto_recording(admitted, observed.auto_recording, auto_recording_exists),
        deactivation=deactivation,
        refusals=tuple(refusals),
        route_refused=observed.asked_route is not None and route is None,
        immediate=immediate,
        handover=handover,
        report=observed.report,
        quality_set=lookup,
        playback_policy=observed.playback_policy,
        rules=rules_patch(stream.metadata.name, observed.rules, wanted_rules(stream, observed.playback_policy))
        if observed.rules_read
        else None,
        rules_create=observed.rules_read and observed.rules is None,
        regions=regions,
        had_regions=tuple(recorded_regions(primary or None)),
        standby_recorder=plan_standby(admitted, settings, observed.standby, standby and deactivation is None),
        spread=observed.spread,
        budgets=handover,  # the stream's restart policy (its annotation, else the setting)
    )


def plan_auto_recording(stream: LiveStream, current: Manifest | None, exists: bool) -> AutoRecording:
    """The auto Recording as observed (`current`; `exists` False: the index has none, none was read)
    against recording.auto. A user's own Recording of that name is left alone."""
    if not (stream.spec.recording.auto or exists) or (
        current is not None and not owned_by(current, stream.metadata.uid)
    ):
        return AutoRecording()
    stopped = bool(current and current.get("spec", {}).get("stopped"))
    if not stream.spec.recording.auto:
        return AutoRecording(stop=current is not None and not stopped)
    if current is None:
        return AutoRecording(create=auto_recording(stream))
    if stopped and not current["metadata"].get("deletionTimestamp"):
        # Switched off and on again: a fresh Recording (the stopped one's videos stay on the claim).
        return AutoRecording(delete=current, create=auto_recording(stream))
    return AutoRecording()


def plan_standby(stream: LiveStream, settings: OperatorSettings, observed: StandbyObserved, wanted: bool) -> Standby:
    """The stream's own warm recorder kept (as wanted, on its host port) or removed; a new one under
    the first free name, after the default claim, when it has none (one adopted meanwhile is not its own)."""
    current = observed.pod if owned_by(observed.pod, stream.metadata.uid) else None
    if not wanted or current is not None:
        name = current["metadata"]["name"] if current is not None else ""
        desired = recorder_standby_pod(stream, name, settings, ports_of(current) or None) if wanted else None
        return Standby(current=current, desired=desired)
    namespace = stream.metadata.namespace or ""
    claim = None if observed.claim_exists else recordings_claim(namespace, settings.recordings)
    return Standby(new_name=observed.free_name, claim=claim)


# --- the second phase: what depends on a write's answer -----------------------------------------


def wanted_routes(plan: Plan, http_port: int) -> dict[RouteKind, Manifest | None]:
    """The route of each kind to keep (its manifest) or delete (None): the wanted one, and one of the
    other kind the stream had. `http_port`: the primary's, as allocated (HTTPRoutes name it)."""
    route, stream = plan.route, plan.stream
    out: dict[RouteKind, Manifest | None] = {}
    for kind in ROUTE_KINDS:
        wanted = route is not None and route.kind == kind
        if not wanted and plan.had_route != kind:
            continue
        desired = None
        if route is not None and wanted:
            desired = (
                playback_ingress(stream, route) if kind == "Ingress" else playback_http_route(stream, route, http_port)
            )
        out[kind] = desired
    return out


def advertised(
    plan: Plan, role: Role, settings: OperatorSettings, service: Manifest | None, host_ports: IngestPortMap | None
) -> WebRtcAdvertise | None:
    """Where WebRTC peers reach the primary: read from its Service as just created or observed, so
    a new stream's ingest starts with its nodePorts announced."""
    stream = plan.stream
    if not webrtc_on(stream, role, settings.playback):
        return None
    reach = ingest_reach(ServiceObservation.of(service), reach_inputs(stream, role, settings, host_ports))
    return webrtc_advertise(reach, stream.spec.ingest.webrtc.advertise_addresses)


def wanted_standby(plan: Plan, settings: OperatorSettings, host_ports: IngestPortMap | None) -> Manifest | None:
    """A new warm recorder on the host port allocated for it (None: none is made)."""
    name = plan.standby_recorder.new_name
    return recorder_standby_pod(plan.stream, name, settings, host_ports) if name else None


def recorded_deactivation(
    plan: Plan, settings: OperatorSettings, observed: Observed, host_ports: IngestPortMap | None
) -> Deactivation | None:
    """The deactivation to record (None: none, or the record removed). A report is recorded when it
    comes from the primary ingest Pod the current spec asks for (a spec changed since would have
    rolled it: the fresh Pod pulls again); it is in force once the object shows it, and until then
    the worker that gave up keeps the fact (its Pod is left running idle). `host_ports`: the
    primary's allocation."""
    stream, report = plan.stream, plan.report
    if plan.deactivation is not None or report is None or stream.spec.source.pull is None or not stream.spec.active:
        return plan.deactivation
    reason, reporter = report
    running = observed.pods.get("primary") or {}
    pod = running.get("metadata") or {}
    reporting = pod.get("uid") == reporter and not pod.get("deletionTimestamp")
    if reporting and plan.roles["primary"].hold:  # the Pod kept as it is (its quality set is missing)
        return Deactivation(stream.metadata.uid or "", stream.metadata.generation or 0, reason)
    advertise = advertised(plan, "primary", settings, _owned(observed.services.get("primary"), stream), host_ports)
    want = ingest_pod(stream, "primary", settings, host_ports, host_ports, advertise)
    if reporting and pod_difference(want, running) is None:
        return Deactivation(stream.metadata.uid or "", stream.metadata.generation or 0, reason)
    return None


def _owned(obj: Manifest | None, stream: LiveStream) -> Manifest | None:
    return obj if owned_by(obj, stream.metadata.uid) else None


def deactivation_patch(wanted: Deactivation | None, observed: Observed) -> Manifest | None:
    """The patch of the LiveStream's record when it is not `wanted` (a record that no longer holds,
    a new spec, another object, is removed); None when it is."""
    recorded = observed.deactivation_record
    if (wanted is None and recorded is not None) or (wanted is not None and wanted != Deactivation.parse(recorded)):
        return annotation_patch(wanted)
    return None


def wanted_service(plan: Plan, role: Role, settings: OperatorSettings, host_ports: IngestPortMap | None) -> Manifest:
    """A role's external Service. A route the server refused stays recorded as wanted (the next
    reconcile tries again); so does the edge, with the stream's line in its routes (control/edge/
    plans the edge from these records, and says whether the server refused it)."""
    route = plan.route
    return ingest_service(
        plan.stream,
        role,
        settings,
        host_ports,
        route.kind if route else None,
        edge_owner_value(route.path, public=not plan.signed) if route is not None and plan.edge else None,
        plan.regions,
    )


def wanted_region_services(
    plan: Plan, settings: OperatorSettings, host_ports: IngestPortMap | None
) -> dict[str, Manifest | None]:
    """Each LoadBalancer region's Service to keep (its manifest) or delete (None: a region the primary
    Service records that is no longer wanted). `host_ports`: the primary's allocation."""
    by_name = {r.name: r for r in settings.ingest.regions}
    out: dict[str, Manifest | None] = {
        name: region_service(plan.stream, by_name[name], settings, host_ports) for name in plan.regions
    }
    return out | {name: None for name in plan.had_regions if name not in out}


def wanted_internal_service(plan: Plan, role: Role, host_ports: IngestPortMap | None) -> Manifest | None:
    """The role's internal ClusterIP Service while the role runs (its ports are the allocation the
    external Service records, with host networking), none otherwise."""
    if not plan.roles[role].services:
        return None
    return ingest_internal_service(plan.stream, role, host_ports)


def wanted_pod(
    plan: Plan,
    role: Role,
    settings: OperatorSettings,
    host_ports: IngestPortMap | None,
    primary_ports: IngestPortMap | None,
    service: Manifest | None,
) -> Manifest | None:
    """A role's ingest Pod, or None when it does not run. `service`: its Service as the API server
    answered (WebRTC announces its nodePorts); `primary_ports`: the primary's allocation (a backup
    sends its feed there)."""
    if not plan.roles[role].ingest:
        return None
    advertise = advertised(plan, role, settings, service, host_ports)
    pod = ingest_pod(plan.stream, role, settings, host_ports, primary_ports, advertise, plan.spread)
    lookup = plan.quality_set
    if lookup is not None and not lookup.missing:
        # Which set its ladder came from: a change of that set waits for an idle ingest even when the
        # stream's spec changed meanwhile in a way the ingest does not see (restarts.owner_difference).
        pod["metadata"]["annotations"][BUILT_FROM_ANNOTATION] = json.dumps({LADDER_PARTS: lookup.reference})
    return pod


# --- the two slots of a role's ingest (docs/design/handover.md) -----------------------------------


def in_slot(pod: Manifest, name: str, serving: bool) -> Manifest:
    """The desired ingest Pod under a slot's name, labelled serving or not (a copy)."""
    meta = {**pod["metadata"], "name": name, "labels": dict(pod["metadata"].get("labels") or {})}
    meta["annotations"] = dict(meta.get("annotations") or {})
    if serving:
        meta["labels"][SERVING_LABEL] = SERVING
    else:
        meta["labels"].pop(SERVING_LABEL, None)
    return {**pod, "metadata": meta}


@dataclass(frozen=True)
class Successor:
    """A role's second slot while its serving Pod is to be handed over, or after: the successor to
    create (not serving), a stale Pod there to delete, a successor no longer wanted (the status
    loop's to cancel: handover.py), and the change as status tells it (a handover held after a
    failed one carries when it is tried again)."""

    change: PodChange
    create: Manifest | None = None
    delete: Manifest | None = None
    cancel: HandoverCancel | None = None


def plan_successor(
    desired: Manifest | None,
    current: Manifest | None,
    other: Manifest | None,
    change: PodChange,
    slots: tuple[str, str],
    generation: int | None,
    now: datetime,
) -> Successor:
    """Pure. `current`: the serving Pod; `other`: the Pod in the other slot; `change`: what
    roll_pod decided for `current`. A Pod in a handover with `current` (in_handover) is the status
    loop's (handover.py): a successor no longer wanted (no handover wanted any more, or one of an
    older spec) is only named to it, which cancels it unless it is past the point of no return; a
    predecessor is released and deleted there. It goes here only with `current` (the stream stops,
    a restart asked now): nothing is left released. Any other Pod there goes. A `current` handed over
    (its successor gone) never gets another: the status loop cuts it."""
    other_meta = (other or {}).get("metadata") or {}
    leaving = other is None or bool(other_meta.get("deletionTimestamp")) or handed_over_at(other) is not None
    if in_handover(current, other) and not (desired is None or change.action == "replace"):
        return _in_handover(desired, current, other, change)
    if change.action != "handover" or desired is None or current is None:
        return Successor(change, delete=None if leaving else other)
    if handed_over_at(current) is not None:
        # Past the point of no return, its successor gone (deleted, lost): it takes no media, so a new
        # successor would follow nothing; the status loop cuts it (handover_abort.py), a fresh one comes.
        return Successor(change, delete=None if leaving else other)
    if other is not None:
        return Successor(change, delete=None if leaving else other)
    waiting = held(current, change, now)
    if waiting is not None:
        return Successor(waiting)
    pod = in_slot(desired, other_slot(current, slots), serving=False)
    pod["metadata"]["annotations"] |= successor_annotations(current, change)
    if generation is not None:
        pod["metadata"]["annotations"][BUILT_FOR_ANNOTATION] = str(generation)
    return Successor(change, create=pod)


def in_handover(current: Manifest | None, other: Manifest | None) -> bool:
    """The role's two Pods, neither going, one the successor of the other (handover.py's pair)."""
    if current is None or other is None:
        return False
    uids = [(p.get("metadata") or {}).get("uid") for p in (current, other)]
    if any((p.get("metadata") or {}).get("deletionTimestamp") for p in (current, other)):
        return False
    return successor_of(other) == uids[0] or successor_of(current) == uids[1]


def _in_handover(
    desired: Manifest | None, current: Manifest | None, other: Manifest | None, change: PodChange
) -> Successor:
    """plan_successor for a pair: nothing written; a successor not wanted named, with why."""
    assert current is not None and other is not None  # (in_handover)
    if successor_of(other) != current["metadata"].get("uid"):
        return Successor(change)  # `other` is the predecessor: the status loop releases and deletes it
    name = current["metadata"]["name"]
    if change.action == "handover":
        stale = pod_difference(desired, other) if desired is not None else None
        if stale is None:
            return Successor(change)  # under way
        why = f"{stale} changed again since it was made"
    elif change.action == "wait":
        why = f"the restart policy no longer hands {name} over"
    elif handover_for(other) == NODE_PART:
        why = f"node {pod_node(current) or '?'} is no longer cordoned"
    else:
        why = f"{handover_for(other) or 'what it was made for'} is as {name} runs it again"
    return Successor(change, cancel=HandoverCancel(str(other["metadata"].get("uid") or ""), why))


def wanted_budget(plan: Plan, role: Role) -> Manifest | None:
    """The role's PodDisruptionBudget while its ingest runs (or is held) under the restart policy
    handover; None: an owned one is deleted (a drain then evicts the ingest as any Pod)."""
    wants = plan.roles[role]
    return ingest_disruption_budget(plan.stream, role) if plan.budgets and (wants.ingest or wants.hold) else None


def wanted_releasing_budget(plan: Plan, role: Role) -> Manifest | None:
    """The role's budget for a predecessor being released, kept beside its serving budget."""
    wants = plan.roles[role]
    return releasing_disruption_budget(plan.stream, role) if plan.budgets and (wants.ingest or wants.hold) else None
