"""The RestreamBackoff Event's writes (control/restream/backoff_writes.py) against the in-memory API
(devtools.fake_kube): a create, then updates; an operator restarted mid-streak, an Event expired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Literal

from devtools.fake_kube import FakeKubeApi
from streamops.control.restream import backoff_event as B
from streamops.control.restream.backoff_writes import perform_backoff_write, write_backoff_event

T0 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 8, 3, 30, tzinfo=UTC)
REF = B.RestreamRef("media", "to-youtube", "9d1c6c1e-0000-4000-8000-000000000001")


def streak(failures: int) -> B.FailureStreak:
    return B.FailureStreak(T0, failures, "rtmp://yt/live2/***: Connection refused")


def test_writes_create_then_update_and_survive_restart_and_expiry():
    api = FakeKubeApi()
    name = B.event_name(REF, T0)
    write_backoff_event(api, REF, streak(1), "create", T0)
    assert api.object("Event", "media", name)["count"] == 1
    write_backoff_event(api, REF, streak(5), "update", T1)
    stored = api.object("Event", "media", name)
    assert (stored["count"], stored["lastTimestamp"], stored["firstTimestamp"]) == (
        5,
        "2026-11-22T08:03:30Z",
        "2026-11-22T08:00:00Z",
    )
    # An operator restarted mid-streak: its first write is a create, which finds the Event and updates it.
    write_backoff_event(api, REF, streak(7), "create", T1)
    assert api.object("Event", "media", name)["count"] == 7 and len(api.objects("Event")) == 1
    # The API server dropped it (event TTL): the update creates it again, with the streak's whole count.
    api.store.pop(("Event", "media", name))
    write_backoff_event(api, REF, streak(8), "update", T1)
    assert api.object("Event", "media", name)["count"] == 8


class State:
    """What perform_backoff_write uses of the operator's state: its API and its status writes."""

    def __init__(self, api: FakeKubeApi) -> None:
        self.api = api

    async def write_status(self, function: Any, *args: Any) -> Any:
        return function(*args)


def action(failures: int, write: Literal["create", "update"] = "create") -> B.WriteBackoffEvent:
    return B.WriteBackoffEvent(
        REF, streak(failures), write, T1, 100.0, (("streaming.streamops.dev/client-user-id", "u7"),)
    )


def test_the_action_records_what_it_wrote_and_a_failed_write_nothing() -> None:
    api = FakeKubeApi()
    loop: Any = SimpleNamespace(state=State(api))
    written = asyncio.run(perform_backoff_write(loop, action(1)))
    assert written == B.WrittenSeries(B.event_name(REF, T0), 1, 100.0)
    event = api.object("Event", "media", B.event_name(REF, T0))
    assert event["metadata"]["annotations"] == {"streaming.streamops.dev/client-user-id": "u7"}
    api.fail("patch", "Event", status=500)
    assert asyncio.run(perform_backoff_write(loop, action(2, "update"))) is None, "the next tick decides it again"
    assert api.object("Event", "media", B.event_name(REF, T0))["count"] == 1
