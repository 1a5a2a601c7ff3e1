"""What a LiveStream's status loop does at a tick, decided from what it observed (loop_observe.py) and
what it decided before (`LiveStreamMemory`): pure, an ordered chain of small policies
(runtime/tick.py performs the actions; docs/design/status-loops.md):

1. a worker's deactivation report the last reconcile answered is remembered (once per Pod uid);
2. a reconcile when one is due, or the object's deactivation record is not the one the last
   reconcile read: the tick ends there (the next comes at once, with the new outcome);
3. the Events of the ingest Pods that reconcile replaced, once per reconcile;
4. a missing or refused Secret is looked at again soon (ResyncWithin: Secrets are not watched);
5. a lost worker Pod deleted for good, once; a backup that shares its primary's node said, once;
6. the stream's metrics;
6b. each role's handover step (handover.py: follow, move the serving label, release, delete), said
    at INFO once per change;
7. the overlay switch and the player page's settings to each ingest that shows others than the spec;
8. a reconcile now when an ingest that waited for its restart is idle, a failed handover's next try
   is due, or the primary's worker says it deactivated itself;
9. the status, when what it is made of changed (with the Events it implies: transitions, publisher
   refusals, ICE servers);
10. the next tick.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from streamops.api import LiveStream, LiveStreamStatus
from streamops.api.common import SecretKeyRef
from streamops.contract.ingest import PLAYER_SETTINGS_PATH, IngestStatus, PlayerSettings, Role
from streamops.contract.overlay import OverlaySwitch
from streamops.control.livestream.backup_spread import shared_node_event
from streamops.control.livestream.deactivation import WorkerReport, annotation_value, worker_report
from streamops.control.livestream.exposure import ServiceObservation
from streamops.control.livestream.handover import HandoverState, Worker, failed_handover, handovers
from streamops.control.livestream.handover_abort import aborts
from streamops.control.livestream.observation import ROLES
from streamops.control.livestream.outcome import StreamOutcome
from streamops.control.livestream.overlays import overlay_switch
from streamops.control.livestream.player_settings import broadcast_views, settings_due, spec_projection
from streamops.control.livestream.specs.secret import stream_key_ref
from streamops.control.livestream.status import (
    IngestObservation,
    RecordingFacts,
    ice_servers_events,
    livestream_events,
    livestream_status,
    publisher_refusal_events,
)
from streamops.control.runtime.decisions import (
    Action,
    HintValue,
    LoopFacts,
    Reconcile,
    ResyncWithin,
    Say,
    WorkerRequest,
    WriteStatus,
    invalid_spec_status,
    lost_pods,
    replaced_events,
    status_due,
    validated,
    wake,
    with_status,
)
from streamops.control.runtime.handover_steps import DeletePod, HandoverAction, HandoverMemory, PatchPod
from streamops.control.runtime.indexes import BroadcastFacts, StreamFacts
from streamops.control.shared.conditions import Transition
from streamops.control.shared.spec_checks import SPEC_REJECTED
from streamops.control.workers.edge_viewers import Sessions
from streamops.control.workers.endpoint_slices import EndpointObservation
from streamops.control.workers.ingest_address import ingest_names
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Body, Manifest

TLS_SECRET_RETRY_SECONDS = 5.0  # a missing or unusable rtmps certificate Secret is looked at again this often


# --- the kind's own actions (performed by loop.py's LiveStreamTick) ---------------------------------


@dataclass(frozen=True)
class SwitchOverlays:
    """POST /overlays to each ingest (slot, Pod, switch) whose request slot is free, signed with the
    stream key `key` names (read only when one goes out; none for a pull stream: unsigned)."""

    stream: str
    key: SecretKeyRef | None
    switches: tuple[tuple[str, PodObservation, OverlaySwitch], ...]


@dataclass(frozen=True)
class StreamMetrics:
    """The operator's metrics of the stream: switched on or not, its workers' container restarts."""

    active: bool
    restarts: tuple[tuple[str, tuple[PodObservation | None, ...]], ...]


LiveStreamAction = Action | SwitchOverlays | StreamMetrics | PatchPod | DeletePod


# --- what decide reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingSeen:
    """One of the stream's Recordings, as the index holds it."""

    name: str
    recording: bool = False
    duration: float | None = None
    auto: bool = False


@dataclass(frozen=True)
class LiveStreamObserved:
    """Every read of a tick (loop_observe.py). A tick that is to reconcile reads nothing past the
    indexes' children (`telemetry` empty): the next tick, at once, reads with the new outcome."""

    facts: LoopFacts
    outcome: StreamOutcome | None
    body: Body = field(repr=False)  # the object as the newest watch event showed it
    written: Manifest = field(repr=False)  # the status the loop last wrote
    recordings: tuple[RecordingSeen, ...] = ()
    standby: PodObservation | None = None  # the warm recorder
    recorder_running: bool = False  # a Recording of the stream has its recorder Pod
    pods: dict[Role, PodObservation] = field(default_factory=dict)  # the serving ingest Pods (or as just created)
    telemetry: dict[Role, IngestStatus] = field(default_factory=dict)  # each serving ingest's /status
    services: dict[Role, ServiceObservation] = field(default_factory=dict)
    region_services: dict[str, ServiceObservation] = field(default_factory=dict)
    endpoints: dict[Role, EndpointObservation] = field(default_factory=dict)
    edge_sessions: Sessions | None = None  # read only while viewers come through the edge
    broadcasts: tuple[BroadcastFacts, ...] = ()  # the Broadcasts that name the stream
    members: dict[str, StreamFacts | None] = field(default_factory=dict)  # their streams, by name
    # The Pod in each role's other slot (a handover's successor or predecessor) and its /status.
    others: dict[Role, PodObservation] = field(default_factory=dict)
    other_telemetry: dict[Role, IngestStatus] = field(default_factory=dict)
    other_endpoints: dict[Role, EndpointObservation] = field(default_factory=dict)  # ... as its Service lists it


@dataclass(frozen=True)
class LiveStreamMemory:
    """What the loop decided before."""

    live: Mapping[Role, bool] = field(default_factory=dict)  # each ingest's media at the last look
    primary_before: IngestStatus | None = None  # the primary's telemetry at the last status write
    reported: str | None = None  # the Pod whose worker's deactivation report was recorded
    reporting: tuple[str, int] | None = None  # a report's reconcile asked for: (Pod uid, reconciles then)
    announced: StreamOutcome | None = None  # the outcome whose replaced Pods have had their Events
    inputs: object = None  # what the status was last computed from
    handover: HandoverMemory = field(default_factory=HandoverMemory)  # the handovers' steps taken
    handover_said: Mapping[Role, str] = field(default_factory=dict)  # each role's handover decision last logged
    spread_said: str | None = None  # the backup Pod (uid) said to share its primary's node


# --- the chain ----------------------------------------------------------------------------------------


def decide(observed: LiveStreamObserved, memory: LiveStreamMemory) -> tuple[list[LiveStreamAction], LiveStreamMemory]:
    memory = remember_report(observed, memory)
    outcome, next_tick = observed.outcome, wake(observed.facts, observed.pods.values())
    # The replaced Pods of the last outcome are said first: a reconcile due at once (the replaced
    # Pod's DELETED event asks for one) must not pass over them.
    actions, memory = announce(observed.facts.name, outcome, memory) if outcome is not None else ([], memory)
    if reconcile_due(observed):
        return [*actions, Reconcile.of(hints(observed, memory.live)), next_tick], memory
    if outcome is None:  # never reconciled yet: the failed first one waits for its retry
        return [wake(observed.facts, ())], memory
    if outcome.tls_secret_problem or outcome.policy_refusals:
        # cert-manager writes the Secret when it is issued; a label added to one shows at a look too.
        actions.append(ResyncWithin(TLS_SECRET_RETRY_SECONDS))
    actions += lost_pods(observed.facts, [observed.standby, *observed.pods.values(), *observed.others.values()])
    shared, said = shared_node_event(observed.pods, outcome.backup_spread, memory.spread_said)
    actions += shared
    memory = replace(memory, spread_said=said)
    actions.append(metrics(observed))
    steps, states, memory = handover_steps(observed, memory)
    logged, memory = handover_decisions(states, memory)
    actions += [*steps, *logged]
    live = {role: data.live for role, data in on_air(observed).items()}
    actions += overlay_requests(observed, outcome)
    actions += player_settings_requests(observed)
    reconcile, memory = reconcile_now(observed, outcome, replace(memory, live=live))
    actions += reconcile
    status, memory = status_write(observed, outcome, memory, states)
    actions += status
    return [*actions, next_tick], memory


def on_air(observed: LiveStreamObserved) -> dict[Role, IngestStatus]:
    """Each role's /status as status and the restart rules read it: the serving Pod's, unless it has
    no media while the Pod in the other slot has (a handover's moment between the Services moving
    and the publisher reconnecting): the stream stays live, and busy, through it."""
    if not observed.other_telemetry:
        return observed.telemetry
    air = dict(observed.telemetry)
    for role, other in observed.other_telemetry.items():
        serving = air.get(role)
        if other.live and (serving is None or not serving.live) and role in observed.pods:
            air[role] = other
    return air


def handover_steps(
    observed: LiveStreamObserved, memory: LiveStreamMemory
) -> tuple[list[HandoverAction], dict[Role, HandoverState], LiveStreamMemory]:
    """Each role's handover step (handover.py), from its two Pods and their reports."""
    early, observed, memory = handover_aborts(observed, memory)
    if not observed.others:
        return early, {}, memory
    facts = observed.facts
    serving = {role: Worker(t.handover, t.active_ingest, t.live) for role, t in observed.telemetry.items()}
    other = {role: Worker(t.handover, t.active_ingest, t.live) for role, t in observed.other_telemetry.items()}
    steps, states, kept = handovers(
        observed.pods,
        observed.others,
        serving,
        other,
        facts.name,
        facts.now,
        facts.monotonic,
        facts.in_flight,
        memory.handover,
        routes={
            role: (observed.endpoints[role].served, observed.other_endpoints[role].served)
            for role in observed.others
            if role in observed.services and role in observed.endpoints and role in observed.other_endpoints
        },
    )
    return [*early, *steps], states, replace(memory, handover=kept)


def handover_decisions(
    states: Mapping[Role, HandoverState], memory: LiveStreamMemory
) -> tuple[list[Say], LiveStreamMemory]:
    """Each role's handover decision (HandoverState.decision: its step and why) that differs from the
    one last said, or its end: logged at INFO once per change, so a stalled one says where and why."""
    now = {role: f"handover {state.decision}" for role, state in states.items()}
    ended = {role: f"handover: {role} ingest: none under way" for role in memory.handover_said if role not in now}
    changed = {role: text for role, text in {**now, **ended}.items() if memory.handover_said.get(role) != text}
    return [Say(text) for text in changed.values()], (replace(memory, handover_said=now) if changed else memory)


def handover_aborts(
    observed: LiveStreamObserved, memory: LiveStreamMemory
) -> tuple[list[HandoverAction], LiveStreamObserved, LiveStreamMemory]:
    """A handover cancelled, or a released Pod left alone deleted (handover_abort.py), first: the roles
    it takes are not stepped this tick (their other slot is left out of what the steps see)."""
    cancels = observed.outcome.handover_cancels if observed.outcome is not None else {}
    reports = {role: t.handover for role, t in observed.telemetry.items()}
    actions, taken, kept = aborts(observed.pods, observed.others, reports, cancels, memory.handover)
    if taken:
        observed = replace(observed, others={r: p for r, p in observed.others.items() if r not in taken})
    return actions, observed, replace(memory, handover=kept)


def remember_report(observed: LiveStreamObserved, memory: LiveStreamMemory) -> LiveStreamMemory:
    """A report's reconcile has answered (a reconcile gave an outcome since it was asked for): the
    Pod is remembered when that outcome recorded it, so its report is not sent again."""
    asked = memory.reporting
    outcome = observed.outcome
    if asked is None or outcome is None or observed.facts.reconciles <= asked[1]:
        return memory
    reported = asked[0] if outcome.deactivation_recorded else memory.reported
    return replace(memory, reported=reported, reporting=None)


def retrying(facts: LoopFacts) -> bool:
    """A failed reconcile waits for its retry (1, 2, 4 … 60 s): no other reconcile before it."""
    return facts.retry_in is not None and facts.retry_in > 0


def reconcile_due(observed: LiveStreamObserved) -> bool:
    """A reconcile is due (never done, the spec changed, a Pod went away, the resync), or the
    deactivation record is not the one the last reconcile read (recorded now, or a user removed it:
    act now, not at the resync)."""
    outcome, facts = observed.outcome, observed.facts
    if facts.reconcile_due:
        return True
    return (
        outcome is not None
        and annotation_value(observed.body) != outcome.deactivation_annotation
        and not retrying(facts)
    )


def hints(observed: LiveStreamObserved, live: Mapping[Role, bool]) -> dict[str, HintValue]:
    """What the reconcile is told from the indexes: the warm recorder, whether a Recording runs its
    own, whether an auto Recording may exist, and each ingest's media (a restart waits while live)."""
    return {
        "standby": observed.standby.name if observed.standby else None,
        "recorder_running": observed.recorder_running,
        "auto_recording_exists": any(r.auto for r in observed.recordings),
        **{f"{role}_live": live.get(role) for role in ROLES},
    }


def announce(
    name: str, outcome: StreamOutcome, memory: LiveStreamMemory
) -> tuple[list[LiveStreamAction], LiveStreamMemory]:
    """A Normal Event for each ingest Pod the reconcile replaced, once per reconcile (the outcome
    it gave: a tick that reuses it says nothing again)."""
    if outcome is memory.announced:
        return [], memory
    pods = {role: outcome.replaced.get(role) or ingest_names(name, role).pod for role in outcome.pod_changes}
    changes = {f"{role} ingest": (pods[role], c) for role, c in outcome.pod_changes.items()}
    return list(replaced_events(changes)), replace(memory, announced=outcome)


def metrics(observed: LiveStreamObserved) -> StreamMetrics:
    active = observed.body.get("spec", {}).get("active") is not False
    pods = (("ingest", (*observed.pods.values(), *observed.others.values())), ("recorder", (observed.standby,)))
    return StreamMetrics(active, pods)


def overlay_requests(observed: LiveStreamObserved, outcome: StreamOutcome) -> list[SwitchOverlays]:
    """The switch for each ingest that runs overlays and shows others on than the spec, whose slot is
    free. The object is read as its model only while an ingest reports overlays: other streams pay
    nothing per tick."""
    telemetry = observed.telemetry
    if not any(report.overlays is not None for report in telemetry.values()):
        return []
    stream = stream_model(observed, outcome)
    if stream is None:
        return []
    switches = tuple(
        (slot, pod, switch)
        for role, report in telemetry.items()
        if (switch := overlay_switch(stream, report)) is not None
        and (pod := observed.pods.get(role)) is not None
        and (slot := f"overlays/{role}") not in observed.facts.in_flight
    )
    return [SwitchOverlays(observed.facts.name, stream_key_ref(stream), switches)] if switches else []


def player_settings_requests(observed: LiveStreamObserved) -> list[WorkerRequest]:
    """The player page's settings to each ingest whose /status shows others (player_settings.py)."""
    wanted = PlayerSettings(
        projection=spec_projection(observed.body.get("spec") or {}),
        broadcasts=broadcast_views(observed.broadcasts, observed.members.get),
    )
    requests = []
    for role, settings in settings_due(wanted, observed.telemetry).items():
        pod, slot = observed.pods.get(role), f"player-settings/{role}"
        if pod is not None and slot not in observed.facts.in_flight:
            body = json.dumps(settings.wire()).encode()
            requests.append(WorkerRequest(pod, "POST", PLAYER_SETTINGS_PATH, observed.facts.name, slot, body))
    return requests


def reconcile_now(
    observed: LiveStreamObserved, outcome: StreamOutcome, memory: LiveStreamMemory
) -> tuple[list[Reconcile], LiveStreamMemory]:
    """A reconcile now (unless a failed one waits for its retry): an ingest that waited for its
    restart is idle, or the primary's worker reports it deactivated itself (recorded on the
    LiveStream at once, where it outlives the Pod; once per Pod)."""
    if retrying(observed.facts):
        return [], memory
    idle = any(c.action == "wait" and memory.live.get(role) is False for role, c in outcome.pod_changes.items())
    # A handover held after a failed one, whose next try is due (the reconcile makes the successor).
    idle = idle or any(
        c.action == "handover" and c.retry_at is not None and c.retry_at <= observed.facts.now
        for c in outcome.pod_changes.values()
    )
    report = new_report(observed, outcome, memory)
    if not idle and report is None:
        return [], memory
    told = hints(observed, memory.live)
    if report is not None:
        told |= {"deactivated": report.reason, "deactivated_pod": report.pod_uid}
        memory = replace(memory, reporting=(report.pod_uid, observed.facts.reconciles))
    return [Reconcile.of(told)], memory


def new_report(observed: LiveStreamObserved, outcome: StreamOutcome, memory: LiveStreamMemory) -> WorkerReport | None:
    """The primary worker's deactivation report, unless one is in force or its Pod's was recorded."""
    report = worker_report(observed.pods.get("primary"), observed.telemetry.get("primary"))
    if report is None or outcome.deactivation is not None or report.pod_uid == memory.reported:
        return None
    return report


def status_write(
    observed: LiveStreamObserved,
    outcome: StreamOutcome,
    memory: LiveStreamMemory,
    states: Mapping[Role, HandoverState] | None = None,
) -> tuple[list[WriteStatus], LiveStreamMemory]:
    """The status and its Events when what it is made of changed (or the last write was deferred);
    `states`: the handovers under way."""
    states = dict(states or {})
    inputs = (
        states,
        observed.facts.generation,
        outcome,
        observed.pods,
        on_air(observed),
        recording_facts(observed),
        observed.services,
        observed.region_services,
        observed.endpoints,
        observed.edge_sessions,
    )
    if not status_due(observed.facts, inputs, memory.inputs):
        return [], memory
    status, events = livestream_update(observed, outcome, memory.primary_before, states)
    primary = on_air(observed).get("primary") or memory.primary_before
    return [WriteStatus(status, tuple(events), inputs)], replace(memory, inputs=inputs, primary_before=primary)


def recording_facts(observed: LiveStreamObserved) -> tuple[RecordingFacts, ...]:
    return tuple(
        RecordingFacts(r.name, r.recording, r.duration) for r in sorted(observed.recordings, key=lambda r: r.name)
    )


def stream_model(observed: LiveStreamObserved, outcome: StreamOutcome) -> LiveStream | None:
    """The object as its model (with the status the loop last wrote); None when the reconcile or the
    model rejects its spec."""
    return None if outcome.invalid_spec else validated(LiveStream, with_status(observed.body, observed.written))


def livestream_update(
    observed: LiveStreamObserved,
    outcome: StreamOutcome,
    primary_before: IngestStatus | None,
    states: Mapping[Role, HandoverState] | None = None,
) -> tuple[Manifest, list[Transition]]:
    """The new status and its Events (`primary_before`: the primary's telemetry at the last write)."""
    raw = with_status(observed.body, observed.written)
    facts = observed.facts
    previous = validated(LiveStreamStatus, raw["status"]) if raw["status"] else None
    stream = None if outcome.invalid_spec else validated(LiveStream, raw)
    if stream is None:
        message = outcome.invalid_spec or SPEC_REJECTED
        return invalid_spec_status(raw, message, facts.stamp, LiveStreamStatus).wire(), []
    observation = IngestObservation(
        pods=observed.pods,
        key_secret_missing=outcome.key_secret_missing,
        key_invalid_for_srt=outcome.key_invalid_for_srt,
        telemetry=on_air(observed),
        recordings=recording_facts(observed),
        host_ports=outcome.host_ports,
        services=observed.services,
        region_services=observed.region_services,
        region_rejected=outcome.region_rejected,
        endpoints=observed.endpoints,
        settings=facts.settings,
        generation=outcome.generation,
        service_rejected=outcome.service_rejected,
        route_rejected=outcome.route_rejected,
        edge_rejected=outcome.edge_rejected,
        edge_sessions=observed.edge_sessions,
        tls_secret_problem=outcome.tls_secret_problem,
        quality_set_problem=outcome.quality_set_problem,
        playback_policy_problem=outcome.playback_policy_problem,
        policy_refusals=outcome.policy_refusals,
        route_refused=outcome.route_refused,
        deactivation=outcome.deactivation,
        restart_pending={role: c.part for role, c in outcome.pod_changes.items() if c.action == "wait" and c.part},
        handovers=dict(states or {}),
        handover_failures=handover_failures(observed, outcome, states or {}),
    )
    status = livestream_status(stream, observation, facts.stamp)
    primary = on_air(observed).get("primary")
    worker_news = publisher_refusal_events(primary_before, primary) + ice_servers_events(primary_before, primary)
    return status.wire(), livestream_events(previous, status) + worker_news


def handover_failures(
    observed: LiveStreamObserved, outcome: StreamOutcome, states: Mapping[Role, HandoverState]
) -> dict[Role, str]:
    """The roles whose handover is still wanted but whose last one failed (none under way): what
    their serving Pod records, and when the next is tried."""
    failed: dict[Role, str] = {}
    for role, change in outcome.pod_changes.items():
        failure = failed_handover(observed.pods.get(role))
        if change.action != "handover" or role in states or failure is None:
            continue
        pod = observed.pods[role].name
        failed[role] = (
            f"{role} ingest: {change.part} changed; the handover of {pod} failed {failure.count} time(s), last: "
            f"{failure.why}; tried again at {failure.retry_at:%H:%M:%S} UTC ({pod} keeps running)"
        )
    return failed
