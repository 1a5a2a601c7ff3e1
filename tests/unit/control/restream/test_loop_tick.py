"""A Restream's tick (control/restream/loop_tick.py) on a real ObjectLoop and the in-memory API:
what observe reads (the pod and stream indexes, the loop's facts; no /status before an outcome), and
its own actions performed (the backoff Event written and recorded for the next observe)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest
from devtools.catalog import restream, stored
from devtools.fake_kube import FakeKubeApi
from streamops.control.restream.backoff_event import FailureStreak, RestreamRef, WriteBackoffEvent, event_name
from streamops.control.restream.decide import ReportRestarts
from streamops.control.restream.loop import RESTREAM_LOOP
from streamops.control.restream.loop_tick import RestreamTick
from streamops.control.restream.outcome import RestreamOutcome
from streamops.control.runtime.indexes import Indexes, StreamFacts
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject, kept
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation

POD = PodObservation(name="cam-pusher", exists=True, uid="pod-1", phase="Running", ready=True)
STREAM = StreamFacts(uid="stream-uid", live=True, backup_live=False)
T0 = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
REF = RestreamRef("media", "out", "restream-uid")


def scenario(test: Any) -> FakeKubeApi:
    api = FakeKubeApi()

    async def run() -> None:
        body = stored(restream("out"), uid="restream-uid", generation=1)
        obj = LiveObject(("Restream", "media", "out"), kept(kopf.Body(body)), status={})
        state = OperatorState(api=api, settings=OperatorSettings())
        indexes = Indexes(
            pods={("media", "LiveStream", "cam", "pusher"): [POD]}, streams={("media", "cam"): [STREAM]}, recordings={}
        )
        loop = ObjectLoop(state, RESTREAM_LOOP, obj)
        try:
            await test(loop, RestreamTick(indexes))
        finally:
            loop.close()
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())
    return api


def test_observe_reads_the_indexes_and_no_status_before_an_outcome() -> None:
    async def test(loop: ObjectLoop[RestreamOutcome], tick: RestreamTick) -> None:
        seen = await tick.observe(loop, tick.memory())
        assert seen.facts.reconcile_due and seen.outcome is None and seen.running is None
        assert (seen.uid, seen.stream_ref, seen.pod, seen.stream) == ("restream-uid", "cam", POD, STREAM)
        assert seen.body["metadata"]["name"] == "out" and seen.written == {}
        assert loop.key in loop.state._followers[("media", "cam")], "its stream's events wake it"

    scenario(test)


def test_its_own_actions_the_event_written_is_what_the_next_observe_shows() -> None:
    streak = FailureStreak(T0, 3, "refused")

    async def test(loop: ObjectLoop[RestreamOutcome], tick: RestreamTick) -> None:
        await tick.perform(loop, WriteBackoffEvent(REF, streak, "create", T0, 100.0))
        await tick.perform(loop, ReportRestarts("cam", POD))
        seen = await tick.observe(loop, tick.memory())
        assert (seen.event.name, seen.event.count, seen.event.at) == (event_name(REF, T0), 3, 100.0)
        with pytest.raises(TypeError):
            await tick.perform(loop, object())

    api = scenario(test)
    assert api.object("Event", "media", event_name(REF, T0))["count"] == 3
