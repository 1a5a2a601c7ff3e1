"""A quality set's decide (control/qualityset/decide.py), table-driven: a row is what its loop
observed (its last outcome, how many LiveStreams name it) and what it wrote before, and the actions
it must take, the status written included. No loop, no API, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import quality_set, quiet_loop, stored
from streamops.control.qualityset.decide import QualitySetObserved, decide
from streamops.control.runtime.decisions import LoopFacts, Reconcile, SpecOutcome, StatusInputs, Wake, WriteStatus
from streamops.control.shared.settings import OperatorSettings

NOW = datetime(2026, 11, 29, 18, 0, 0, 250000, tzinfo=UTC)
SETTINGS = OperatorSettings()
IDLE = Wake(SETTINGS.telemetry.idle_interval_seconds)
OK = SpecOutcome(generation=1)
BODY = stored(quality_set("hd"), uid="qs", generation=1)
CLUSTER_BODY = stored(quality_set("hd", cluster=True), namespace="", uid="cqs", generation=1)


def facts(**changed: Any) -> LoopFacts:
    base = quiet_loop("hd", NOW, SETTINGS, monotonic=1000.0)
    return replace(base, **changed)


def written_with(users: int, generation: int = 1, outcome: SpecOutcome = OK) -> StatusInputs:
    """The memory of a loop that wrote the status of a set `users` streams name."""
    return StatusInputs((generation, outcome, users))


@dataclass(frozen=True)
class Row:
    id: str
    facts: dict[str, Any] = field(default_factory=dict)
    outcome: SpecOutcome | None = OK
    users: int = 0
    memory: StatusInputs = field(default_factory=lambda: written_with(0))
    writes: bool = False  # a status write, then the idle wake
    streams: int | None = None  # status.streams written
    ready: tuple[str, str] | None = None  # the Ready condition written: (status, reason)
    body: dict[str, Any] = field(default_factory=lambda: BODY)


ROWS = [
    Row("the-first-tick-reconciles", {"reconcile_due": True, "reconciles": 0}, outcome=None, memory=StatusInputs()),
    Row("a-spec-change-reconciles-first", {"reconcile_due": True, "generation": 2}),
    Row("a-failed-first-reconcile-waits", {"reconciles": 0}, outcome=None, memory=StatusInputs()),
    Row("its-first-status", memory=StatusInputs(), writes=True, streams=0, ready=("True", "Accepted")),
    Row("nothing-changed-nothing-written"),
    Row("a-stream-names-it", users=1, writes=True, streams=1, ready=("True", "Accepted")),
    Row("two-streams-name-it", users=2, memory=written_with(1), writes=True, streams=2),
    Row("a-stream-no-longer-names-it", users=1, memory=written_with(2), writes=True, streams=1),
    Row("the-same-count-writes-nothing", users=2, memory=written_with(2)),
    Row("a-spec-the-operator-rejects", {"generation": 2}, outcome=SpecOutcome(2, invalid_spec="spec.renditions: bad"),
        writes=True, ready=("False", "InvalidSpec")),
    Row("a-deferred-write-is-written-again", {"write_pending": True}, writes=True, streams=0),
    Row("a-cluster-set-the-same-way", users=3, writes=True, streams=3, body=CLUSTER_BODY),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_decide(row: Row) -> None:
    seen = QualitySetObserved(facts(**row.facts), row.outcome, row.body, {}, row.users)
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
    assert memory == StatusInputs(write.inputs) == written_with(row.users, generation, row.outcome)
    if row.streams is not None:
        assert write.status["streams"] == row.streams
    if row.ready is not None:
        [ready] = [c for c in write.status["conditions"] if c["type"] == "Ready"]
        assert (ready["status"], ready["reason"]) == row.ready
