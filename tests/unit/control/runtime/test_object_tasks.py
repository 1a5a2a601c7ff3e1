"""The status loops' lifecycle without kopf daemons (control/runtime/object_tasks.py): an object's
watch events start, feed and stop its loop, so nothing needs a finalizer on the object."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf
import pytest
from streamops.control.runtime import object_tasks
from streamops.control.runtime.object_tasks import LiveObject, ObjectTasks
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings

KEY = ("LiveStream", "ns", "cam")


def body(uid: str, version: str = "1") -> kopf.Body:
    return kopf.Body({"metadata": {"name": "cam", "namespace": "ns", "uid": uid, "resourceVersion": version}})


class Recorder:
    """A loop that notes what it saw and runs until its object is gone."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.bodies: list[str] = []
        self.ended: list[str] = []

    async def __call__(self, obj: LiveObject) -> None:
        uid = obj.body.metadata.uid or ""
        self.started.append(uid)
        try:
            while not obj.gone:
                self.bodies.append(obj.body.metadata.get("resourceVersion") or "")
                await asyncio.sleep(0.01)
        finally:
            self.ended.append(uid)


def test_events_start_feed_and_stop_one_loop_per_object():
    async def scenario() -> None:
        tasks, loop = ObjectTasks(), Recorder()
        tasks.observe(None, KEY, body("a"), loop)  # listed when the operator starts
        tasks.observe("MODIFIED", KEY, body("a", "2"), loop)
        await asyncio.sleep(0.05)
        assert loop.started == ["a"], "one loop, however many events"
        assert loop.bodies[-1] == "2", "the loop reads the newest body"

        tasks.observe("DELETED", KEY, body("a", "2"), loop)
        await asyncio.sleep(0.02)
        assert loop.ended == ["a"] and len(tasks) == 0

    asyncio.run(scenario())


def test_an_object_created_again_under_its_name_has_a_loop_of_its_own():
    async def scenario() -> None:
        tasks, loop = ObjectTasks(), Recorder()
        tasks.observe("ADDED", KEY, body("a"), loop)
        await asyncio.sleep(0.02)
        # Without a finalizer the new object may be seen before the old one's DELETED is handled.
        tasks.observe("ADDED", KEY, body("b"), loop)
        tasks.observe("DELETED", KEY, body("a"), loop)
        await asyncio.sleep(0.02)
        assert loop.started == ["a", "b"] and loop.ended == ["a"] and len(tasks) == 1
        await tasks.close()
        assert loop.ended == ["a", "b"]

    asyncio.run(scenario())


def test_a_listing_without_the_object_stops_only_loops_older_than_the_listing():
    async def scenario() -> None:
        tasks, loop = ObjectTasks(), Recorder()
        tasks.observe("ADDED", KEY, body("a"), loop)
        tasks.observe("ADDED", ("LiveStream", "ns", "dog"), body("d"), loop)
        tasks.observe("ADDED", ("Restream", "ns", "yt"), body("y"), loop)
        asked = time.monotonic()
        tasks.observe("ADDED", ("LiveStream", "ns", "new"), body("n"), loop)  # created after the list was asked
        assert tasks.namespaces("LiveStream") == {"ns"}
        assert tasks.stale("LiveStream", "ns", {"d"}, asked) == ["a"], "vanished (its DELETED never came)"
        assert tasks.stale("LiveStream", "other", set(), asked) == []
        await tasks.close()

    asyncio.run(scenario())


def test_a_failing_loop_starts_again(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(object_tasks, "RESTART_SECONDS", 0.01)
    runs: list[int] = []
    third = asyncio.Event()

    async def flaky(obj: LiveObject) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        third.set()
        while not obj.gone:
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        tasks = ObjectTasks()
        tasks.observe("ADDED", KEY, body("a"), flaky)
        await asyncio.wait_for(third.wait(), 30)  # (an event, not a fixed sleep: CI is loaded)
        assert len(runs) == 3 and len(tasks) == 1
        await tasks.close()

    asyncio.run(scenario())


def test_two_loops_of_one_name_share_the_waker_until_the_last_goes():
    async def scenario() -> Any:
        state = OperatorState(api=None, settings=OperatorSettings())  # type: ignore[arg-type]
        old, new = state.waker(KEY), state.waker(KEY)
        assert old is new
        state.forget(KEY)  # the old object's loop ends
        state.wake(KEY)
        assert new.is_set(), "the new loop is still woken"
        state.forget(KEY)
        assert KEY not in state._wakers
        state.executor.shutdown()
        state.status_executor.shutdown()

    asyncio.run(scenario())


def test_a_loop_keeps_no_managed_fields_last_applied_copy_or_status():
    raw = {
        "apiVersion": "streaming.streamops.dev/v1alpha1",
        "kind": "LiveStream",
        "metadata": {
            "name": "cam",
            "namespace": "ns",
            "uid": "a",
            "generation": 2,
            "annotations": {object_tasks.LAST_APPLIED: "{...}", "team": "news"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"title": "Camera"},
        "status": {"observedGeneration": 2},
    }
    body = object_tasks.kept(kopf.Body(raw))
    assert body.metadata.get("managedFields") is None and dict(body.metadata.annotations) == {"team": "news"}
    assert (body.metadata.uid, body.metadata.get("generation"), body.spec["title"]) == ("a", 2, "Camera")
    assert "status" not in body and raw["metadata"]["managedFields"], "the event's body is untouched"
    assert raw["status"] == {"observedGeneration": 2}


def test_a_loop_takes_the_status_of_its_first_event_once_and_later_bodies_carry_none():
    async def scenario() -> None:
        taken: list[object] = []

        async def loop(obj: LiveObject) -> None:
            await asyncio.sleep(0.02)  # (a later event comes in before it looks)
            taken.append(dict(obj.take_status()))
            taken.append("status" in obj.body)
            taken.append(dict(obj.take_status()))

        first = kopf.Body({**body("a"), "status": {"observedGeneration": 1}})
        later = kopf.Body({**body("a", "2"), "status": {"observedGeneration": 2}})
        tasks = ObjectTasks()
        tasks.observe("ADDED", KEY, first, loop)
        tasks.observe("MODIFIED", KEY, later, loop)
        await asyncio.sleep(0.05)
        assert taken == [{"observedGeneration": 1}, False, {}], "the writer starts from the first; a body keeps none"

    asyncio.run(scenario())
