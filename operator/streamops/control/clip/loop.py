"""A Clip's status loop (runtime/tick.py: observe → decide → act): its clipper's telemetry into status;
once the final status is written, a reconcile removes the clipper Pod. Before the clipper exists it
checks the recordings quotas (storage_quota.py): a full one refuses the Clip; once the video is stored,
retention deletes it after deleteAfterDays as a recording's (retention.py). What it reads:
loop_observe.py; what it decides: decide.py; its own actions: storage/storing_tick.py."""

from __future__ import annotations

from streamops.api import CLIP, ClipStatus
from streamops.contract.clipper import ClipperStatus
from streamops.control.clip.decide import ClipMemory, decide
from streamops.control.clip.loop_observe import observe
from streamops.control.clip.outcome import ClipOutcome
from streamops.control.clip.reconcile import reconcile_clip
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import KindLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import run_tick_loop
from streamops.control.storage.storing_tick import Reads, StoringTick
from streamops.control.workers.worker_client import TelemetryReader

CLIP_LOOP = KindLoop[ClipOutcome](
    api=CLIP, reconcile=reconcile_clip, status_model=ClipStatus, metric_fields=frozenset()
)


async def clip_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    reads = Reads(indexes, TelemetryReader(ClipperStatus))
    await run_tick_loop(state, CLIP_LOOP, obj, StoringTick(reads, observe, decide, ClipMemory))
