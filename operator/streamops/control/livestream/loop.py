"""A LiveStream's status loop: its ingest Pods' telemetry and its Recordings' facts into status
(see shared/object_loop.py for what every loop does)."""

from __future__ import annotations

import kopf

from streamops.api import LIVESTREAM, LiveStream, LiveStreamStatus
from streamops.contract.ingest import IngestStatus, Role
from streamops.control.livestream.builders import ingest_component
from streamops.control.livestream.reconcile import ROLES, StreamOutcome, reconcile_livestream
from streamops.control.livestream.status import (
    IngestObservation,
    RecordingFacts,
    livestream_events,
    livestream_status,
)
from streamops.control.recording.builders import STANDBY_COMPONENT
from streamops.control.shared.conditions import Transition
from streamops.control.shared.indexes import Indexes, index_values, worker_pod
from streamops.control.shared.manifests import Manifest
from streamops.control.shared.object_loop import KindLoop, ObjectLoop, utcnow
from streamops.control.shared.pod_observation import PodObservation
from streamops.control.shared.spec_checks import SPEC_REJECTED
from streamops.control.shared.state import OperatorState
from streamops.control.shared.worker_client import TelemetryReader

LIVESTREAM_LOOP = KindLoop(
    api=LIVESTREAM,
    reconcile=reconcile_livestream,
    status_model=LiveStreamStatus,
    metric_fields=frozenset({"frameRate", "bitrate", "transcodingSpeed", "recordingDuration"}),
)


def livestream_update(
    loop: ObjectLoop[StreamOutcome],
    outcome: StreamOutcome,
    pods: dict[Role, PodObservation],
    telemetry: dict[Role, IngestStatus],
    facts: tuple[RecordingFacts, ...],
) -> tuple[Manifest, list[Transition]]:
    """The new status and its Events. (A function of its own so that nothing it builds — the
    object as a model, copies of the body — outlives the tick in the loop's frame.)"""
    raw = loop.raw()
    previous = loop.previous_status(raw, LiveStreamStatus)
    stream = loop.valid_object(raw, LiveStream, outcome)
    if stream is None:
        return loop.invalid_spec_status(raw, outcome, SPEC_REJECTED), []
    observation = IngestObservation(
        pods=pods,
        key_secret_missing=outcome.key_secret_missing,
        telemetry=telemetry,
        recordings=facts,
        host_ports=outcome.host_ports,
        worker_address=loop.state.settings.worker_address,
        generation=outcome.generation,
    )
    status = livestream_status(stream, observation, utcnow())
    return status.wire(), livestream_events(previous, status)


async def livestream_loop(state: OperatorState, body: kopf.Body, stopped: kopf.DaemonStopped, indexes: Indexes) -> None:
    loop = ObjectLoop(state, LIVESTREAM_LOOP, body)
    readers: dict[Role, TelemetryReader[IngestStatus]] = {role: TelemetryReader(IngestStatus) for role in ROLES}
    try:
        while not stopped:
            auto = any(f.auto for f in index_values(indexes.recordings, (loop.namespace, loop.name)))
            standby = worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, loop.name, STANDBY_COMPONENT)
            loop.hints = {"standby": standby.name if standby else None}
            outcome = await loop.reconciled(auto_recording_exists=auto)
            if outcome is None:
                await loop.sleep()
                continue
            observed_pods = {
                role: pod
                for role in ROLES
                if (pod := worker_pod(indexes.pods, loop.namespace, LIVESTREAM.kind, loop.name, ingest_component(role)))
            }
            await loop.remove_lost_pods(standby, *observed_pods.values())
            telemetry: dict[Role, IngestStatus] = {}
            for role, reader in readers.items():
                data = await reader.read(state.client, observed_pods.get(role)) if state.client else None
                if data is not None:
                    telemetry[role] = data
            facts = tuple(
                RecordingFacts(f.name, f.recording, f.duration)
                for f in sorted(index_values(indexes.recordings, (loop.namespace, loop.name)), key=lambda f: f.name)
            )
            inputs = (body.metadata.get("resourceVersion"), outcome, observed_pods, telemetry, facts)
            if loop.changed(inputs):
                await loop.write(*livestream_update(loop, outcome, observed_pods, telemetry, facts))
            await loop.sleep(*observed_pods.values())
    finally:
        loop.close()
