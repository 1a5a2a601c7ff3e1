"""A playback policy's status loop (runtime/tick.py: observe → decide → act): its generation read,
and whether the servers can enforce every rule of it (a GeoIP database for rules naming countries),
into status (decide.py). Nothing runs for a policy; the loop wakes when it changes and looks every
idle interval anyway."""

from __future__ import annotations

from streamops.api.kinds import PLAYBACK_POLICY
from streamops.api.playback_policy import PlaybackPolicyStatus
from streamops.control.playbackpolicy.decide import PlaybackPolicyObserved, decide
from streamops.control.playbackpolicy.reconcile import reconcile_playback_policy
from streamops.control.runtime.decisions import Action, SpecOutcome, StatusInputs
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import KindTick, loop_facts, run_tick_loop

PLAYBACK_POLICY_LOOP = KindLoop(
    api=PLAYBACK_POLICY,
    reconcile=reconcile_playback_policy,
    status_model=PlaybackPolicyStatus,
    metric_fields=frozenset(),
)
# The operator gives its servers no GeoIP database yet (the chart value is the next step:
# docs/design/playback-rules.md): rules naming countries are said to be unenforceable.
GEOIP_CONFIGURED = False


class PlaybackPolicyTick(KindTick[SpecOutcome, PlaybackPolicyObserved, StatusInputs]):
    def memory(self) -> StatusInputs:
        return StatusInputs()

    async def observe(self, loop: ObjectLoop[SpecOutcome], memory: StatusInputs) -> PlaybackPolicyObserved:
        return PlaybackPolicyObserved(loop_facts(loop), loop.outcome, loop.body, loop.writer.written, GEOIP_CONFIGURED)

    def decide(self, observed: PlaybackPolicyObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
        return decide(observed, memory)


async def playback_policy_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(state, PLAYBACK_POLICY_LOOP, obj, PlaybackPolicyTick())
