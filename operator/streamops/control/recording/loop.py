"""A Recording's status loop (runtime/tick.py: observe → decide → act): its recorder's telemetry and its
stream's facts into status; and what only it can do: hand an adopted standby recorder its configuration
(POST /start), ask a stopped recorder to finalise (POST /stop: spec.stopped, or the quota is full), have
the recorder Pod removed once the final status is written, check the quotas (from the Recording and Clip
indexes), delete the videos retention expired, and the originals (keepOrigin) past their deleteAt, and
step a recorder's handover (handover.py; its Pod writes are tick.py's). What it reads: loop_observe.py; what it
decides: decide.py; its own actions: storage/storing_tick.py."""

from __future__ import annotations

from streamops.api import RECORDING, RecordingStatus
from streamops.contract.recorder import RecorderStatus
from streamops.control.recording.decide import RecordingMemory, decide
from streamops.control.recording.loop_observe import RecordingReads, observe
from streamops.control.recording.outcome import RecordingOutcome
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import KindLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import run_tick_loop
from streamops.control.storage.storing_tick import StoringTick
from streamops.control.workers.worker_client import TelemetryReader

RECORDING_LOOP = KindLoop[RecordingOutcome](
    api=RECORDING,
    reconcile=reconcile_recording,
    status_model=RecordingStatus,
    metric_fields=frozenset({"duration", "storedBytes"}),
)


async def recording_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    reads = RecordingReads(indexes, TelemetryReader(RecorderStatus))
    await run_tick_loop(state, RECORDING_LOOP, obj, StoringTick(reads, observe, decide, RecordingMemory))
