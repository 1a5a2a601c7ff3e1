"""A Recording's tick observe (runtime/tick.py): every read of a tick, none of its decisions — the
loop's facts, its recorder, the stream's standby and its origin expiry Pod from the pod index, its
stream from the stream index, the recorder's /status, the quota, and what the deletions the last tick
asked for did. Its stream's changes wake it (state.follow); its recorder's restarts are reported.
During a handover (handover.py) both recorder Pods are read."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamops.api import LIVESTREAM, RECORDING
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording.decide import RecordingObserved
from streamops.control.recording.outcome import RecordingOutcome
from streamops.control.recording.specs.origin_expiry_pod import ORIGIN_EXPIRY_COMPONENT
from streamops.control.runtime.handover_steps import worker_and_successor
from streamops.control.runtime.indexes import index_values, indexed_stream, worker_pod
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.tick import loop_facts
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT, STANDBY_COMPONENT
from streamops.control.storage.recordings_claim import videos_claim
from streamops.control.storage.storing_tick import Reads
from streamops.control.workers.worker_client import TelemetryReader


@dataclass
class RecordingReads(Reads[RecorderStatus]):
    """A Recording's reads, and a second telemetry reader for a handover's successor."""

    successor_reader: TelemetryReader[RecorderStatus] = field(default_factory=lambda: TelemetryReader(RecorderStatus))


async def observe(loop: ObjectLoop[RecordingOutcome], reads: Reads[RecorderStatus]) -> RecordingObserved:
    facts, state, indexes = loop_facts(loop), loop.state, reads.indexes
    namespace, name = loop.namespace, loop.name
    stream_ref = str((loop.body.spec.get("streamRef") or {}).get("name") or "")
    pod, successor = worker_and_successor(
        index_values(indexes.pods, (namespace, RECORDING.kind, name, RECORDER_COMPONENT))
    )
    successor_telemetry = None
    if successor is not None and isinstance(reads, RecordingReads):
        successor_telemetry = await state.read_worker(reads.successor_reader, successor, namespace, stream_ref)
    reads.quota.check(state.settings, indexes, namespace, stream_ref)
    state.follow(loop.key, namespace, stream_ref)
    loop.report_restarts(stream_ref, {"recorder": [pod]})
    videos_deleted, origins_deleted = reads.take_deleted()
    return RecordingObserved(
        facts=facts,
        outcome=loop.outcome,
        body=loop.body,
        written=loop.writer.written,
        pod=pod,
        standby=worker_pod(indexes.pods, namespace, LIVESTREAM.kind, stream_ref, STANDBY_COMPONENT),
        expiring=worker_pod(indexes.pods, namespace, RECORDING.kind, name, ORIGIN_EXPIRY_COMPONENT),
        stream=indexed_stream(indexes.streams, namespace, stream_ref),
        telemetry=await state.read_worker(reads.reader, pod, namespace, stream_ref),
        quota=reads.quota.quota,
        videos_deleted=videos_deleted,
        origins_deleted=origins_deleted,
        videos_claim=videos_claim(state.settings.recordings) or "",
        successor=successor,
        successor_telemetry=successor_telemetry,
    )
