"""Every read of a LiveStream loop's tick (decide.py decides from it): the loop's facts, its
Recordings, warm recorder and ingest Pods from the indexes, each ingest's /status, its Services and
EndpointSlices from the watches, its viewers at the namespace's edge, the Broadcasts that name it.
Reads only. A tick that is to reconcile reads no telemetry: the next, at once, reads with the new
outcome."""

from __future__ import annotations

from collections.abc import Sequence

from streamops.api import LIVESTREAM, RECORDING
from streamops.contract.ingest import IngestStatus, Role
from streamops.control.livestream.decide import LiveStreamMemory, LiveStreamObserved, RecordingSeen
from streamops.control.livestream.exposure import ServiceObservation
from streamops.control.livestream.observation import ROLES
from streamops.control.livestream.outcome import StreamOutcome
from streamops.control.runtime.indexes import Indexes, index_values, indexed_stream, worker_pod
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import loop_facts
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT, STANDBY_COMPONENT
from streamops.control.workers.endpoint_slices import EndpointObservation, observe_endpoint
from streamops.control.workers.handover_marks import Marks, serving_index
from streamops.control.workers.ingest_address import ingest_component, ingest_names, region_service_name
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import TelemetryReader
from streamops.kube.client import watched_object


class LiveStreamReads:
    """One per stream loop: the indexes, and a telemetry reader per ingest."""

    def __init__(self, indexes: Indexes) -> None:
        self.indexes = indexes
        # One per slot, by the slot's name (ingest_slots): a handover's Pods are read side by side,
        # and the serving one keeps its last read when the label moves (no tick without `live`).
        self.readers: dict[str, TelemetryReader[IngestStatus]] = {}

    def reader(self, pod: str) -> TelemetryReader[IngestStatus]:
        found = self.readers.get(pod)
        if found is None:
            found = self.readers[pod] = TelemetryReader(IngestStatus)
        return found

    async def observe(self, loop: ObjectLoop[StreamOutcome], memory: LiveStreamMemory) -> LiveStreamObserved:
        indexes, state, namespace, name = self.indexes, loop.state, loop.namespace, loop.name
        facts = loop_facts(loop)
        outcome = loop.outcome
        recordings = tuple(
            RecordingSeen(f.name, f.recording, f.duration, f.auto)
            for f in index_values(indexes.recordings, (namespace, name))
        )
        standby = worker_pod(indexes.pods, namespace, LIVESTREAM.kind, name, STANDBY_COMPONENT)
        recorder_running = any(
            worker_pod(indexes.pods, namespace, RECORDING.kind, r.name, RECORDER_COMPONENT) for r in recordings
        )
        pods: dict[Role, PodObservation] = {}
        others: dict[Role, PodObservation] = {}
        for role in ROLES:
            found = index_values(indexes.pods, (namespace, LIVESTREAM.kind, name, ingest_component(role)))
            serving, other = serving_and_other(found)
            pod = serving or (outcome.created.get(role) if outcome else None)  # (until the Pod watch shows it)
            if pod is not None:
                pods[role] = pod
            if other is not None:
                others[role] = other
        observed = LiveStreamObserved(
            facts, outcome, loop.body, loop.writer.written, recordings, standby, recorder_running, pods, others=others
        )
        if facts.reconcile_due or outcome is None:
            return observed
        telemetry: dict[Role, IngestStatus] = {}
        other_telemetry: dict[Role, IngestStatus] = {}
        for role in ROLES:
            for seen, into in ((pods, telemetry), (others, other_telemetry)):
                pod = seen.get(role)
                if pod is None:
                    continue
                data = await state.read_worker(self.reader(pod.name), pod, namespace, name)
                if data is not None:
                    into[role] = data
        for slot in [n for n in self.readers if n not in {p.name for p in (*pods.values(), *others.values())}]:
            del self.readers[slot]  # (a slot with no Pod: its reader starts afresh with the next)
        broadcasts = tuple(index_values(indexes.broadcasts, (namespace, name)))
        members = {m: indexed_stream(indexes.streams, namespace, m) for b in broadcasts for m in b.members}
        return LiveStreamObserved(
            facts,
            outcome,
            loop.body,
            loop.writer.written,
            recordings,
            standby,
            recorder_running,
            pods,
            telemetry,
            observed_services(state, namespace, name),
            observed_region_services(state, namespace, name),
            observed_endpoints(indexes, namespace, name, pods),
            await state.edge_sessions(namespace, name) if outcome.edge else None,
            broadcasts,
            members,
            others,
            other_telemetry,
            observed_endpoints(indexes, namespace, name, others),
        )


def serving_and_other(found: Sequence[PodObservation]) -> tuple[PodObservation | None, PodObservation | None]:
    """A role's ingest Pods as the pod index holds them: the one that serves
    (handover_marks.serving_index) and the other, if any."""
    pods = sorted(found, key=lambda p: p.name)[:2]  # (slot order: `<stream>-ingest` before `-ingest-b`)
    index = serving_index([Marks(p.name, p.uid, p.exists, p.deleting, p.serving, p.successor_of) for p in pods])
    if index is None:
        return None, None
    return pods[index], (pods[1 - index] if len(pods) == 2 else None)


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
