"""A LiveStream's status loop (runtime/tick.py): loop_observe.py reads, decide.py decides (status, reconciles,
the overlay switch, the player page's settings, handovers), tick.py and the actuators below act."""

from __future__ import annotations

from streamops.api import LIVESTREAM, LiveStreamStatus
from streamops.control.livestream import decide as chain
from streamops.control.livestream.decide import LiveStreamMemory, LiveStreamObserved, StreamMetrics, SwitchOverlays
from streamops.control.livestream.loop_observe import LiveStreamReads
from streamops.control.livestream.outcome import StreamOutcome
from streamops.control.livestream.overlay_switching import switch_overlays
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.runtime import operator_metrics
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import KindTick, run_tick_loop
from streamops.kube.threads import FIRST

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


class LiveStreamTick(LiveStreamReads, KindTick[StreamOutcome, LiveStreamObserved, LiveStreamMemory]):
    """Its observe: LiveStreamReads (loop_observe.py)."""

    def memory(self) -> LiveStreamMemory:
        return LiveStreamMemory()

    def decide(
        self, observed: LiveStreamObserved, memory: LiveStreamMemory
    ) -> tuple[list[chain.LiveStreamAction], LiveStreamMemory]:
        return chain.decide(observed, memory)

    async def perform(self, loop: ObjectLoop[StreamOutcome], action: object) -> None:
        match action:
            case SwitchOverlays():
                await switch_overlays(loop, action)
            case StreamMetrics(active=active, restarts=restarts):
                operator_metrics.stream_active(loop.namespace, loop.name, active)
                loop.report_restarts(loop.name, dict(restarts))
            case _:
                await super().perform(loop, action)

    def close(self, loop: ObjectLoop[StreamOutcome]) -> None:
        if not loop.running:  # deleted (not the operator stopping, nor the loop starting again)
            operator_metrics.stream_deleted(loop.namespace, loop.name)


async def livestream_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(state, LIVESTREAM_LOOP, obj, LiveStreamTick(indexes))
