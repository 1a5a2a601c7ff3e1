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
from streamops.control.runtime.indexes import Indexes, index_values
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


class PlaybackPolicyTick(KindTick[SpecOutcome, PlaybackPolicyObserved, StatusInputs]):
    def __init__(self, indexes: Indexes, geoip: bool) -> None:
        self.indexes, self.geoip = indexes, geoip  # geoip: the chart's playback.geoip is set

    def memory(self) -> StatusInputs:
        return StatusInputs()

    async def observe(self, loop: ObjectLoop[SpecOutcome], memory: StatusInputs) -> PlaybackPolicyObserved:
        # A stream is filed once, under the policy it names.
        named_by = index_values(self.indexes.playback_policy_users, (PLAYBACK_POLICY.kind, loop.namespace, loop.name))
        users = len(set(named_by))
        return PlaybackPolicyObserved(loop_facts(loop), loop.outcome, loop.body, loop.writer.written, self.geoip, users)

    def decide(self, observed: PlaybackPolicyObserved, memory: StatusInputs) -> tuple[list[Action], StatusInputs]:
        return decide(observed, memory)


async def playback_policy_loop(state: OperatorState, obj: LiveObject, indexes: Indexes) -> None:
    await run_tick_loop(
        state, PLAYBACK_POLICY_LOOP, obj, PlaybackPolicyTick(indexes, state.settings.playback.geoip is not None)
    )
