"""A LiveStream's status loop: its ingest Pods' telemetry and its Recordings' facts into status,
and the overlay switch and the player page's settings to its ingests (see runtime/object_loop.py for
what every loop does). It observes, decides with pure functions (status.py, overlays.py,
player_settings.py) and calls actuators: the reconcile (which also records a worker's deactivation),
the status write, overlay_switching.py, player_settings.py's sender."""

from __future__ import annotations

import time

from streamops.api import LIVESTREAM, RECORDING, LiveStream, LiveStreamStatus
from streamops.contract.ingest import IngestStatus, PlayerSettings, Role
from streamops.contract.overlay import OverlaySwitch
from streamops.control.livestream.deactivation import annotation_value, worker_report
from streamops.control.livestream.exposure import ServiceObservation
from streamops.control.livestream.observation import ROLES
from streamops.control.livestream.overlay_switching import OverlaySwitcher
from streamops.control.livestream.overlays import overlay_switch
from streamops.control.livestream.player_settings import (
    PlayerSettingsSender,
    broadcast_views,
    settings_due,
    spec_projection,
)
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.livestream.status import (
    IngestObservation,
    RecordingFacts,
    ice_servers_events,
    livestream_events,
    livestream_status,
    publisher_refusal_events,
)
from streamops.control.runtime import operator_metrics
from streamops.control.runtime.indexes import Indexes, index_values, indexed_stream, worker_pod
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop, utcnow
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.conditions import Transition
from streamops.control.shared.spec_checks import SPEC_REJECTED
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT, STANDBY_COMPONENT
from streamops.control.workers.edge_viewers import Sessions
from streamops.control.workers.endpoint_slices import EndpointObservation, observe_endpoint
from streamops.control.workers.ingest_address import ingest_component, ingest_names, region_service_name
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import TelemetryReader
from streamops.kube.client import watched_object
from streamops.kube.manifests import Manifest
from streamops.kube.threads import FIRST

TLS_SECRET_RETRY_SECONDS = 5.0  # a missing or unusable rtmps certificate Secret is looked at again this often
LIVESTREAM_LOOP = KindLoop(
    api=LIVESTREAM,
    reconcile=reconcile_livestream,
    status_model=LiveStreamStatus,
    # sessions: the one on air's averages change every tick; its start and end come with `live`.
    metric_fields=frozenset({"frameRate", "bitrate", "transcodingSpeed", "recordingDuration", "viewers", "sessions"}),
    # Streams before Restreams and Recordings in a burst: those follow a stream and need its ingest
    # Service anyway (500 + 500 at once: measured in bench/results/operator.md).
    priority=FIRST,
)


def livestream_update(
    loop: ObjectLoop[StreamOutcome],
    outcome: StreamOutcome,
    pods: dict[Role, PodObservation],
    telemetry: dict[Role, IngestStatus],
    facts: tuple[RecordingFacts, ...],
    services: dict[Role, ServiceObservation],
    endpoints: dict[Role, EndpointObservation],
    primary_before: IngestStatus | None = None,
    edge_sessions: Sessions | None = None,
    region_services: dict[str, ServiceObservation] | None = None,
) -> tuple[Manifest, list[Transition]]:
    """The new status and its Events (`primary_before`: the primary's telemetry at the last write).
    (A function of its own so that nothing it builds — the object as a model, copies of the body —
    outlives the tick in the loop's frame.)"""
    raw = loop.raw()
    previous = loop.previous_status(raw, LiveStreamStatus)
    stream = loop.valid_object(raw, LiveStream, outcome)
    if stream is None:
        return loop.invalid_spec_status(raw, outcome, SPEC_REJECTED), []
    observation = IngestObservation(
        pods=pods,
        key_secret_missing=outcome.key_secret_missing,
        key_invalid_for_srt=outcome.key_invalid_for_srt,
        telemetry=telemetry,
        recordings=facts,
        host_ports=outcome.host_ports,
        services=services,
        region_services=region_services or {},
        region_rejected=outcome.region_rejected,
        endpoints=endpoints,
        settings=loop.state.settings,
        generation=outcome.generation,
        service_rejected=outcome.service_rejected,
        route_rejected=outcome.route_rejected,
        edge_rejected=outcome.edge_rejected,
        edge_sessions=edge_sessions,
        tls_secret_problem=outcome.tls_secret_problem,
        quality_set_problem=outcome.quality_set_problem,
        policy_refusals=outcome.policy_refusals,
        route_refused=outcome.route_refused,
        deactivation=outcome.deactivation,
        restart_pending={role: c.part for role, c in outcome.pod_changes.items() if c.action == "wait" and c.part},
    )
    status = livestream_status(stream, observation, utcnow())
    primary = telemetry.get("primary")
    worker_news = publisher_refusal_events(primary_before, primary) + ice_servers_events(primary_before, primary)
    return status.wire(), livestream_events(previous, status) + worker_news


def overlay_switches(
    loop: ObjectLoop[StreamOutcome], outcome: StreamOutcome, telemetry: dict[Role, IngestStatus]
) -> tuple[LiveStream | None, dict[Role, OverlaySwitch]]:
    """The switch each ingest that runs overlays is to be sent (overlays.py), by role, and the
    stream. The object is read as its model only while an ingest reports overlays: other streams
    pay nothing per tick."""
    if not any(report.overlays is not None for report in telemetry.values()):
        return None, {}
    stream = loop.valid_object(loop.raw(), LiveStream, outcome)
    if stream is None:
        return None, {}
    switches = {role: overlay_switch(stream, report) for role, report in telemetry.items()}
    return stream, {role: switch for role, switch in switches.items() if switch is not None}


def observed_services(state: OperatorState, namespace: str, stream: str) -> dict[Role, ServiceObservation]:
    """The stream's ingest Services as the service index holds them (the watch, no GET): their
    type, nodePorts and load balancer address decide the URLs in status."""
    index = state.api.watched.get("Service")
    if index is None:
        return {}
    found = {
        role: ServiceObservation.of(watched_object(index, (namespace, ingest_names(stream, role).service)))
        for role in ROLES
    }
    return {role: service for role, service in found.items() if service is not None}


def observed_region_services(state: OperatorState, namespace: str, stream: str) -> dict[str, ServiceObservation]:
    """The stream's LoadBalancer regions' Services as the service index holds them (their load
    balancer addresses decide the regions' URLs), by region."""
    index = state.api.watched.get("Service")
    if index is None:
        return {}
    found = {
        r: ServiceObservation.of(watched_object(index, (namespace, region_service_name(stream, r))))
        for r in state.settings.ingest.load_balancer_regions
    }
    return {region: service for region, service in found.items() if service is not None}


def observed_endpoints(
    indexes: Indexes, namespace: str, stream: str, pods: dict[Role, PodObservation]
) -> dict[Role, EndpointObservation]:
    """Each ingest Pod as its Service's EndpointSlices list it, from the slice index (the watch, no
    LIST): whether the Service routes publishers to it yet."""
    found = {}
    for role in ROLES:
        service = ingest_names(stream, role).service
        slices = index_values(indexes.endpoints, (namespace, service))
        found[role] = observe_endpoint(service, slices, pods.get(role))
    return found


async def livestream_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    loop = ObjectLoop(state, LIVESTREAM_LOOP, obj)
    readers: dict[Role, TelemetryReader[IngestStatus]] = {role: TelemetryReader(IngestStatus) for role in ROLES}
    reported: str | None = None  # the Pod whose worker's deactivation was recorded (deactivation.py)
    primary_before: IngestStatus | None = None  # the primary's telemetry at the last status write
    switcher = OverlaySwitcher(state, loop.namespace, loop.name)  # POST /overlays (overlay_switching.py)
    page_settings = PlayerSettingsSender(state, loop.namespace, loop.name)  # POST /player-settings
    live: dict[Role, bool] = {}  # each ingest's telemetry at the last tick: a restart waits while live
    try:
        while loop.running:
            recordings = index_values(indexes.recordings, (loop.namespace, loop.name))
            auto = any(f.auto for f in recordings)
            standby = worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, loop.name, STANDBY_COMPONENT)
            recorder_running = any(
                worker_pod(indexes.pods, loop.namespace, RECORDING.kind, f.name, RECORDER_COMPONENT) for f in recordings
            )
            loop.hints = {"standby": standby.name if standby else None, "recorder_running": recorder_running}
            if loop.outcome is not None and annotation_value(loop.body) != loop.outcome.deactivation_annotation:
                loop.requested = True  # the deactivation was recorded, or a user removed it: act now, not at resync
            lives = {f"{role}_live": live.get(role) for role in ROLES}
            outcome = await loop.reconciled(auto_recording_exists=auto, **lives)
            if outcome is None:
                await loop.sleep()
                continue
            changes = {f"{r} ingest": (ingest_names(loop.name, r).pod, c) for r, c in outcome.pod_changes.items()}
            await loop.announce_replaced(outcome, changes)
            # Look again soon: cert-manager writes the Secret when it is issued; Secrets are not
            # watched, so a label added to one shows at the next look too.
            if outcome.tls_secret_problem or outcome.policy_refusals:
                loop.next_resync = min(loop.next_resync, time.monotonic() + TLS_SECRET_RETRY_SECONDS)
            observed_pods = {
                role: pod
                for role in ROLES
                if (
                    pod := worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, loop.name, ingest_component(role))
                    or outcome.created.get(role)  # (until the Pod watch shows it)
                )
            }
            await loop.remove_lost_pods(standby, *observed_pods.values())
            operator_metrics.stream_active(loop.namespace, loop.name, loop.body.spec.get("active") is not False)
            loop.report_restarts(loop.name, {"ingest": observed_pods.values(), "recorder": [standby]})
            telemetry: dict[Role, IngestStatus] = {}
            for role, reader in readers.items():
                data = await state.read_worker(reader, observed_pods.get(role), loop.namespace, loop.name)
                if data is not None:
                    telemetry[role] = data
            live = {role: data.live for role, data in telemetry.items()}
            if any(c.action == "wait" and live.get(role) is False for role, c in outcome.pod_changes.items()):
                loop.requested = True  # an ingest that waited for its restart is idle now
            stream, switches = overlay_switches(loop, outcome, telemetry)  # pure: what each ingest is sent
            await switcher.send(stream, switches, observed_pods)
            wanted = PlayerSettings(
                projection=spec_projection(loop.body.spec),
                broadcasts=broadcast_views(
                    index_values(indexes.broadcasts, (loop.namespace, loop.name)),
                    lambda member: indexed_stream(indexes.streams, loop.namespace, member),
                ),
            )
            await page_settings.send(settings_due(wanted, telemetry), observed_pods)
            report = worker_report(observed_pods.get("primary"), telemetry.get("primary"))
            if report is not None and outcome.deactivation is None and report.pod_uid != reported:
                # The worker gave up: recorded on the LiveStream at once, where it outlives the Pod.
                loop.requested = True
                hints = {"deactivated": report.reason, "deactivated_pod": report.pod_uid}
                outcome = await loop.reconciled(auto_recording_exists=auto, **hints) or outcome
                reported = report.pod_uid if outcome.deactivation_recorded else reported
            facts = tuple(
                RecordingFacts(f.name, f.recording, f.duration)
                for f in sorted(index_values(indexes.recordings, (loop.namespace, loop.name)), key=lambda f: f.name)
            )
            services = observed_services(state, loop.namespace, loop.name)
            regions = observed_region_services(state, loop.namespace, loop.name)
            endpoints = observed_endpoints(indexes, loop.namespace, loop.name, observed_pods)
            edge = await state.edge_sessions(loop.namespace, loop.name) if outcome.edge else None
            inputs = (
                loop.body.metadata.get("generation"),
                outcome,
                observed_pods,
                telemetry,
                facts,
                services,
                regions,
                endpoints,
                edge,
            )
            if loop.changed(inputs):
                update = livestream_update(
                    loop, outcome, observed_pods, telemetry, facts, services, endpoints, primary_before, edge, regions
                )
                await loop.write(*update)
                primary_before = telemetry.get("primary") or primary_before
            await loop.sleep(*observed_pods.values())
    finally:
        switcher.close()
        page_settings.close()
        loop.close()
        if not loop.running:  # deleted (not the operator stopping, nor the loop starting again)
            operator_metrics.stream_deleted(loop.namespace, loop.name)
