"""A Restream's part of its status loop (runtime/tick.py's KindTick): every read of a tick (its
stream's shared pusher in the pod index, the pusher's /status through the stream's one shared
reader, the stream's facts, the last outcome, the object as last seen), decide.py's decide, and its
own actions performed (the RestreamBackoff Event's write, the pusher's restarts as a metric). During a
handover (handover.py) both pusher Pods are read."""

from __future__ import annotations

from typing import Any

from streamops.api import LIVESTREAM
from streamops.contract.pusher import PusherSetStatus
from streamops.control.restream.backoff_event import WriteBackoffEvent, WrittenSeries
from streamops.control.restream.backoff_writes import perform_backoff_write
from streamops.control.restream.decide import ReportRestarts, RestreamMemory, RestreamObserved, decide
from streamops.control.restream.outcome import RestreamOutcome
from streamops.control.restream.specs.names import PUSHER_COMPONENT
from streamops.control.runtime.handover_steps import worker_and_successor
from streamops.control.runtime.indexes import Indexes, index_values, indexed_stream
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.tick import KindTick, loop_facts
from streamops.control.workers.worker_client import SharedTelemetry, TelemetryReader


class RestreamTick(KindTick[RestreamOutcome, RestreamObserved, RestreamMemory]):
    def __init__(self, indexes: Indexes) -> None:
        self.indexes = indexes
        self.readers: SharedTelemetry[PusherSetStatus] | None = None  # held: the stream's one reader lives while we do
        self.successor_readers: SharedTelemetry[PusherSetStatus] | None = None  # a handover's successor
        self.written = WrittenSeries()  # what WriteBackoffEvent last wrote

    def memory(self) -> RestreamMemory:
        return RestreamMemory()

    async def observe(self, loop: ObjectLoop[RestreamOutcome], memory: RestreamMemory) -> RestreamObserved:
        facts, state, namespace = loop_facts(loop), loop.state, loop.namespace
        stream_ref = (loop.body.spec.get("streamRef") or {}).get("name", "")
        state.follow(loop.key, namespace, stream_ref)  # its stream's events wake it
        found = index_values(self.indexes.pods, (namespace, LIVESTREAM.kind, stream_ref, PUSHER_COMPONENT))
        pod, successor = worker_and_successor(found)
        self.readers = state.shared_telemetry(
            (namespace, stream_ref), lambda: SharedTelemetry(TelemetryReader(PusherSetStatus))
        )
        reading = loop.outcome is not None and not facts.reconcile_due
        answered = loop.answered.get  # a handover's request answered: the Pod is read afresh
        running = None
        if reading:
            running = await state.read_worker(
                self.readers, pod, namespace, stream_ref, answered(pod.uid) if pod else None
            )
        successor_running = None
        if successor is not None:
            self.successor_readers = state.shared_telemetry(
                (namespace, f"{stream_ref}/successor"), lambda: SharedTelemetry(TelemetryReader(PusherSetStatus))
            )
            if reading:
                successor_running = await state.read_worker(
                    self.successor_readers, successor, namespace, stream_ref, answered(successor.uid)
                )
        stream = indexed_stream(self.indexes.streams, namespace, stream_ref)
        uid = loop.body.metadata.uid or ""
        return RestreamObserved(
            facts,
            loop.outcome,
            loop.body,
            loop.writer.written,
            uid,
            stream_ref,
            pod,
            stream,
            running,
            self.written,
            successor,
            successor_running,
        )

    def decide(self, observed: RestreamObserved, memory: RestreamMemory) -> tuple[list[Any], RestreamMemory]:
        return decide(observed, memory)

    async def perform(self, loop: ObjectLoop[RestreamOutcome], action: object) -> None:
        match action:
            case WriteBackoffEvent():
                self.written = await perform_backoff_write(loop, action) or self.written
            case ReportRestarts(stream=stream, pod=pod):
                loop.report_restarts(stream, {"pusher": [pod]})
            case _:
                await super().perform(loop, action)
