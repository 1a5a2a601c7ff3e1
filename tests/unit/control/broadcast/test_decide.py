"""A broadcast's decide (control/broadcast/decide.py), table-driven: a row is what its loop observed
(the facts of the streams it names, its last outcome) and what it wrote before, and the actions it
must take, the status written included. No loop, no API, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import quiet_loop, stored
from streamops.api import API_VERSION
from streamops.control.broadcast.decide import BroadcastObserved, decide
from streamops.control.runtime.decisions import LoopFacts, Reconcile, SpecOutcome, StatusInputs, Wake, WriteStatus
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.settings import OperatorSettings

NOW = datetime(2026, 11, 29, 18, 0, 0, 250000, tzinfo=UTC)
SETTINGS = OperatorSettings()
IDLE = Wake(SETTINGS.telemetry.idle_interval_seconds)
OK = SpecOutcome(generation=1)
MAIN, BACKUP = StreamFacts(uid="m", live=False, backup_live=False), StreamFacts(uid="b", live=False, backup_live=False)
BOTH = (("main", MAIN), ("backup", BACKUP))
BODY = stored(
    {
        "apiVersion": API_VERSION,
        "kind": "Broadcast",
        "metadata": {"name": "keynote"},
        "spec": {"streams": ["main", "backup"]},
    },
    uid="bc",
    generation=1,
)


def facts(**changed: Any) -> LoopFacts:
    base = quiet_loop("keynote", NOW, SETTINGS, monotonic=1000.0)
    return replace(base, **changed)


def written_with(streams: Any, generation: int = 1, outcome: SpecOutcome = OK) -> StatusInputs:
    """The memory of a loop that wrote the status of `streams`."""
    return StatusInputs((generation, outcome, streams))


@dataclass(frozen=True)
class Row:
    id: str
    facts: dict[str, Any] = field(default_factory=dict)
    outcome: SpecOutcome | None = OK
    streams: tuple[tuple[str, StreamFacts | None], ...] = BOTH
    memory: StatusInputs = field(default_factory=lambda: written_with(BOTH))
    writes: bool = False  # a status write, then the idle wake
    status: dict[str, Any] = field(default_factory=dict)  # what the written status says (its fields)
    ready: tuple[str, str] | None = None  # the Ready condition written: (status, reason)


ROWS = [
    Row("the-first-tick-reconciles", {"reconcile_due": True, "reconciles": 0}, outcome=None, memory=StatusInputs()),
    Row("a-spec-change-reconciles-first", {"reconcile_due": True, "generation": 2}),
    Row("a-failed-first-reconcile-waits", {"reconciles": 0}, outcome=None, memory=StatusInputs()),
    Row("its-first-status", memory=StatusInputs(), writes=True,
        status={"phase": "Pending", "onAir": None}, ready=("True", "StreamsFound")),
    Row("nothing-changed-nothing-written"),
    Row("a-named-stream-goes-live", streams=(("main", MAIN), ("backup", replace(BACKUP, live=True))), writes=True,
        status={"phase": "Live", "onAir": "backup"}, ready=("True", "StreamsFound")),
    Row("a-named-stream-disappears", streams=(("main", MAIN), ("backup", None)), writes=True,
        ready=("False", "StreamsMissing")),
    Row("it-appears-again", streams=BOTH, memory=written_with((("main", MAIN), ("backup", None))), writes=True,
        ready=("True", "StreamsFound")),
    Row("a-spec-the-operator-rejects", {"generation": 2}, outcome=SpecOutcome(2, invalid_spec="spec.streams: bad"),
        writes=True, ready=("False", "InvalidSpec")),
    Row("a-deferred-write-is-written-again", {"write_pending": True}, writes=True),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_decide(row: Row) -> None:
    seen = BroadcastObserved(facts(**row.facts), row.outcome, BODY, {}, row.streams)
    actions, memory = decide(seen, row.memory)
    if row.facts.get("reconcile_due"):
        assert actions == [Reconcile(), IDLE], "nothing else before the new outcome"
        assert memory == row.memory
        return
    if not row.writes:
        assert actions == [IDLE] and memory == row.memory
        return
    [write, wake] = actions
    assert isinstance(write, WriteStatus) and wake == IDLE
    generation = row.facts.get("generation", 1)
    assert memory == StatusInputs(write.inputs) == written_with(row.streams, generation, row.outcome)
    assert {k: write.status.get(k) for k in row.status} == row.status
    if row.ready is not None:
        [ready] = [c for c in write.status["conditions"] if c["type"] == "Ready"]
        assert (ready["status"], ready["reason"]) == row.ready
