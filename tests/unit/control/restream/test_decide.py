"""A Restream's decide (control/restream/decide.py), table-driven: a row is what its loop observed
and remembered, and the actions it must take, in order, with the memory after. No loop, no API, no
clock: the facts are built by hand."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import quiet_loop, restream, stored
from streamops.contract.pusher import TARGETS_PATH, PusherSetStatus, PusherTargets
from streamops.control.restream import reasons
from streamops.control.restream.backoff_event import (
    FailureStreak,
    RestreamRef,
    WriteBackoffEvent,
    WrittenSeries,
    event_name,
)
from streamops.control.restream.decide import (
    KEY_RETRY_SECONDS,
    SEND_AGAIN_SECONDS,
    TARGETS_SLOT,
    ReportRestarts,
    RestreamMemory,
    RestreamObserved,
    decide,
)
from streamops.control.restream.outcome import RestreamOutcome
from streamops.control.runtime.decisions import (
    ForceDelete,
    LoopFacts,
    PostEvent,
    Reconcile,
    ResyncWithin,
    Wake,
    WorkerRequest,
    WriteStatus,
)
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.conditions import WORKER_REPLACED
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange

NOW = datetime(2026, 11, 29, 18, 0, 0, 250000, tzinfo=UTC)
SETTINGS = OperatorSettings()
POLL, IDLE = Wake(SETTINGS.telemetry.interval_seconds), Wake(SETTINGS.telemetry.idle_interval_seconds)
UID = "restream-uid"
POD = PodObservation(
    name="cam-pusher", exists=True, uid="pod-1", phase="Running", ready=True, ip="10.0.0.9", http_port=8080
)
STREAM = StreamFacts(uid="stream-uid", live=True, backup_live=False)
WANTED = PusherTargets.model_validate(
    {
        "targets": [
            {
                "id": UID,
                "name": "out",
                "version": "1-abc",
                "feedUrl": "http://cam-ingest:8080/feed",
                "uri": "rtmp://127.0.0.1/live",
                "streamKey": "live_123",
                "noAudioMode": "drop",
            }
        ]
    }
)
OUTCOME = RestreamOutcome(generation=1, stream_uid="stream-uid", targets=WANTED)
PUT = WorkerRequest(POD, "PUT", TARGETS_PATH, "cam", TARGETS_SLOT, WANTED.body())
RESTARTS = ReportRestarts("cam", POD)
SINCE = datetime(2026, 11, 29, 17, 59, 0, tzinfo=UTC)
REF = RestreamRef("media", "out", UID)


def running(*, version: str = "1-abc", live: bool = False, **target: Any) -> PusherSetStatus:
    """The pusher's /status with this Restream's target at `version`."""
    entry = {"id": UID, "name": "out", "version": version, "live": live, "state": "live" if live else "connecting"}
    return PusherSetStatus.model_validate({"targets": [{**entry, **target}]})


EMPTY = PusherSetStatus.model_validate({"targets": []})
RUNS_OURS = running()
OURS = RUNS_OURS.of(UID)  # this Restream's target in it
FAILING = running(state="backoff", failures=3, failingSince="2026-11-29T17:59:00Z", lastError="refused")
STREAK = FailureStreak(SINCE, 3, "refused")


def facts(**changed: Any) -> LoopFacts:
    base = quiet_loop("out", NOW, SETTINGS, monotonic=1000.0)
    return replace(base, **changed)


@dataclass(frozen=True)
class Row:
    id: str
    facts: dict[str, Any] = field(default_factory=dict)
    seen: dict[str, Any] = field(default_factory=dict)  # RestreamObserved's fields besides facts and raw
    memory: RestreamMemory = field(default_factory=lambda: RestreamMemory(announced=1))
    actions: list[Any] = field(default_factory=list)  # WriteStatus stands for any status write
    after: RestreamMemory | None = None  # the memory after (None: not looked at)


def observed(row: Row) -> RestreamObserved:
    seen: dict[str, Any] = {"outcome": OUTCOME, "pod": POD, "stream": STREAM, "running": RUNS_OURS, **row.seen}
    body = stored(restream("out"), uid=UID, generation=1)
    return RestreamObserved(facts(**row.facts), body=body, written={}, uid=UID, stream_ref="cam", **seen)


def comparable(actions: list[Any]) -> list[Any]:
    """A status write by its kind only (its content: test_status.py)."""
    return [WriteStatus if isinstance(a, WriteStatus) else a for a in actions]


LOST = replace(POD, deletion_deadline=NOW - timedelta(seconds=600), deletion_grace_seconds=30)
WAITING = RestreamOutcome(generation=1, waiting_for_stream=True)
REPLACED = replace(OUTCOME, pod_change=PodChange("replace", "image"))
RESTART_WAITS = replace(OUTCOME, pod_change=PodChange("wait", "image"))
NO_POD: dict[str, Any] = {"pod": None, "running": None}
W = WriteStatus  # any status write (its content: the tests below and test_status.py)


def memory(announced: int = 1, telemetry: Any = OURS, **changed: Any) -> RestreamMemory:
    """What the loop remembers after a tick that wrote the status of OUTCOME with `telemetry`."""
    inputs = (1, changed.pop("outcome", OUTCOME), changed.pop("pod", POD), telemetry, STREAM)
    changed.setdefault("seen_reconciles", announced)  # (the rows' last tick had the same reconcile's outcome)
    return RestreamMemory(status_inputs=inputs, announced=announced, **changed)


QUIET = memory()  # a tick with nothing new decides the restarts metric and the next poll only
SENT = memory(telemetry=None, sent_at=1000.0, sent_with=1)  # our set was sent at 1000.0, after reconcile 1

ROWS = [
    # 1. a lost Pod, a reconcile when due: nothing else until the new outcome.
    Row("first-tick-reconciles", {"reconcile_due": True, "reconciles": 0}, {"outcome": None, **NO_POD},
        RestreamMemory(), [Reconcile(), IDLE]),
    Row("a-spec-change-reconciles-first", {"reconcile_due": True}, {}, QUIET, [Reconcile(), POLL]),
    Row("a-failed-first-reconcile-waits-for-its-retry", {"reconciles": 0, "retry_in": 2.0}, {"outcome": None},
        RestreamMemory(), [Wake(2.0)]),
    Row("a-lost-pusher-is-deleted-for-good", {}, {"pod": LOST}, QUIET, [ForceDelete(LOST, NOW), POLL]),
    Row("a-lost-pusher-is-deleted-once", {"force_deleted": frozenset({"pod-1"})}, {"pod": LOST, "running": None},
        QUIET, [ReportRestarts("cam", LOST), W, POLL]),
    # 2. its stream.
    Row("the-stream-it-waits-for-appears", {}, {"outcome": WAITING, **NO_POD}, QUIET, [Reconcile(), IDLE]),
    Row("a-new-outcome-that-still-waits-is-not-reconciled-again-at-once", {"reconciles": 2},
        {"outcome": WAITING, **NO_POD}, QUIET, [ReportRestarts("cam", None), W, IDLE]),
    Row("its-stream-was-made-again", {}, {"stream": replace(STREAM, uid="new")}, QUIET, [Reconcile(), POLL]),
    Row("still-waiting-without-a-stream", {}, {"outcome": WAITING, "stream": None, **NO_POD}, QUIET,
        [ReportRestarts("cam", None), W, IDLE]),
    # 3. the replaced Pod's Event, once per reconcile.
    Row("a-replaced-pusher-is-announced", {"reconciles": 2}, {"outcome": REPLACED}, QUIET,
        [PostEvent("Normal", WORKER_REPLACED, "pusher Pod cam-pusher replaced: image changed"), RESTARTS, W, POLL],
        memory(announced=2, outcome=REPLACED)),
    Row("announced-once", {"reconciles": 2}, {"outcome": REPLACED}, memory(announced=2, outcome=REPLACED),
        [RESTARTS, POLL]),
    Row("a-kept-pusher-says-nothing", {"reconciles": 2}, {}, QUIET, [RESTARTS, POLL], memory(announced=2)),
    # 4. a target key Secret not there (or refused) is looked for again soon.
    Row("a-missing-key-is-looked-for-again", {}, {"outcome": RestreamOutcome(1, key_secret_missing="yt"), **NO_POD},
        QUIET, [ResyncWithin(KEY_RETRY_SECONDS), ReportRestarts("cam", None), W, IDLE]),
    Row("a-refused-key-too", {}, {"outcome": RestreamOutcome(1, key_secret_refused="not labelled"), **NO_POD},
        QUIET, [ResyncWithin(KEY_RETRY_SECONDS), ReportRestarts("cam", None), W, IDLE]),
    # 6. PUT /targets: while the pusher runs another set, every SEND_AGAIN_SECONDS, each set once.
    Row("a-pusher-without-our-set-is-sent-it", {}, {"running": EMPTY}, QUIET, [RESTARTS, PUT, W, POLL],
        memory(telemetry=None, sent_at=1000.0, sent_with=1)),
    Row("not-again-within-the-interval", {"monotonic": 1000.0 + SEND_AGAIN_SECONDS}, {"running": EMPTY}, SENT,
        [RESTARTS, POLL], SENT),
    Row("the-same-set-is-not-sent-twice-it-is-planned-again", {"monotonic": 1002.5}, {"running": EMPTY}, SENT,
        [RESTARTS, Reconcile(), POLL], SENT),
    Row("a-new-plan-is-sent", {"monotonic": 1002.5, "reconciles": 2}, {"running": EMPTY}, replace(SENT, announced=2),
        [RESTARTS, PUT, POLL], replace(SENT, announced=2, sent_at=1002.5, sent_with=2, seen_reconciles=2)),
    Row("not-while-one-is-in-flight", {"in_flight": frozenset({TARGETS_SLOT})}, {"running": EMPTY},
        memory(telemetry=None), [RESTARTS, POLL]),
    Row("another-version-is-another-set", {}, {"running": running(version="0-old")}, QUIET, [RESTARTS, PUT, W, POLL]),
    Row("an-unread-pusher-is-sent-nothing", {}, {"running": None}, QUIET, [RESTARTS, W, POLL]),
    Row("no-set-no-put", {}, {"running": EMPTY, "outcome": replace(OUTCOME, targets=None)}, QUIET,
        [RESTARTS, W, POLL]),
    # 7. the status: when what it is made of changed, or a deferred write is due.
    Row("unchanged-inputs-write-nothing", {}, {}, QUIET, [RESTARTS, POLL], QUIET),
    Row("a-deferred-write-is-written-again", {"write_pending": True}, {}, QUIET, [RESTARTS, W, POLL], QUIET),
    Row("a-new-generation-is-a-new-status", {"generation": 2}, {}, QUIET, [RESTARTS, W, POLL]),
    # 8. the backoff Event: created at a streak's first look (its updates: the test below).
    Row("a-streak-creates-its-event", {}, {"running": FAILING}, QUIET,
        [RESTARTS, W, WriteBackoffEvent(REF, STREAK, "create", NOW.replace(microsecond=0), 1000.0), POLL]),
    # 9. the pusher that waits for its restart, once idle.
    Row("an-idle-pusher-gets-its-restart", {}, {"outcome": RESTART_WAITS}, QUIET, [RESTARTS, W, Reconcile(), POLL]),
    Row("a-busy-one-keeps-waiting", {}, {"outcome": RESTART_WAITS, "running": running(live=True)}, QUIET,
        [RESTARTS, W, POLL]),
    Row("one-reconcile-for-two-reasons", {"monotonic": 1002.5},
        {"outcome": RESTART_WAITS, "running": running(version="0-old")}, SENT, [RESTARTS, W, Reconcile(), POLL]),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_decide(row: Row) -> None:
    actions, after = decide(observed(row), row.memory)
    assert comparable(actions) == row.actions
    if row.after is not None:
        assert after == row.after


def test_the_status_write_carries_its_events_and_what_it_was_made_of() -> None:
    row = Row("", seen={"running": running(live=True, state="live", bytesSent=1000)})
    actions, after = decide(observed(row), RestreamMemory(announced=1))
    [write] = [a for a in actions if isinstance(a, WriteStatus)]
    assert write.status["live"] is True and write.status["bytesSent"] == 1000
    assert reasons.RESTREAM_LIVE in [e.reason for e in write.events]
    assert after.status_inputs == write.inputs == (1, OUTCOME, POD, row.seen["running"].of(UID), STREAM)


def test_a_spec_the_operator_cannot_use_gets_conditions_only() -> None:
    row = Row("", seen={"outcome": RestreamOutcome(generation=1, invalid_spec="spec.uri: bad"), "running": None})
    actions, _ = decide(observed(row), RestreamMemory(announced=1))
    [write] = [a for a in actions if isinstance(a, WriteStatus)]
    assert [(c["type"], c["reason"]) for c in write.status["conditions"]] == [
        ("Ready", "InvalidSpec"),
        ("Stalled", "InvalidSpec"),
    ]
    assert write.events == ()


def test_the_backoff_event_is_updated_as_the_streak_grows_at_most_every_period() -> None:
    streak_name = event_name(REF, SINCE)
    every = SETTINGS.telemetry.metrics_write_seconds
    for written, at, expected in [
        (WrittenSeries(streak_name, 3, 995.0), 1000.0, None),  # no new failure
        (WrittenSeries(streak_name, 2, 1000.0 - every / 2), 1000.0, None),  # one more, too soon
        (WrittenSeries(streak_name, 2, 1000.0 - every), 1000.0, "update"),
        (WrittenSeries("an-older-streak", 9, 999.0), 1000.0, "create"),
    ]:
        row = Row("", {"monotonic": at}, {"running": FAILING, "event": written})
        actions, _ = decide(observed(row), QUIET)
        writes = [a.write for a in actions if isinstance(a, WriteBackoffEvent)]
        assert writes == ([expected] if expected else []), (written, expected)


def test_the_backoff_event_carries_the_restream_s_client_fields() -> None:
    row = Row("", seen={"running": FAILING})
    seen = observed(row)
    actions, _ = decide(replace(seen, body=stored(restream("out", clientUserId=7), uid=UID, generation=1)), QUIET)
    [event] = [a for a in actions if isinstance(a, WriteBackoffEvent)]
    assert event.annotations == (("streaming.streamops.dev/client-user-id", "7"),)
    assert event.written() == WrittenSeries(event_name(REF, SINCE), 3, 1000.0)


def test_the_targets_body_holds_the_key_never_its_repr() -> None:
    assert b"live_123" in PUT.body and "live_123" not in repr(PUT)


def test_a_replaced_pusher_is_announced_even_when_a_reconcile_is_due_at_once() -> None:
    """As for the stream and the recorder: the Event before the reconcile that would pass over it."""
    row = Row("due", {"reconciles": 2, "reconcile_due": True}, {"outcome": REPLACED}, QUIET, [], memory())
    actions, after = decide(observed(row), row.memory)
    assert [type(a).__name__ for a in actions][:2] == ["PostEvent", "Reconcile"] and after.announced == 2
