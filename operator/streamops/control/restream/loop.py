"""A Restream's status loop (runtime/tick.py: observe → decide → act): its stream's shared pusher
(the pod index, the pusher's /status read once a round for all the stream's Restreams), the stream's
facts and its last outcome (loop_tick.py), into decide.py's actions: status, the RestreamBackoff Event
this loop alone writes, and PUT /targets whenever the pusher runs another set
(docs/design/shared-pusher.md)."""

from __future__ import annotations

from streamops.api import RESTREAM, RestreamStatus
from streamops.control.restream.loop_tick import RestreamTick
from streamops.control.restream.reconcile import reconcile_restream
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import KindLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import run_tick_loop

RESTREAM_LOOP = KindLoop(
    api=RESTREAM,
    reconcile=reconcile_restream,
    status_model=RestreamStatus,
    metric_fields=frozenset({"bytesSent"}),
    carried=lambda outcome: {"owner_patched_at": outcome.owner_patched_at},
)


async def restream_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(state, RESTREAM_LOOP, obj, RestreamTick(indexes))
