"""The policies every status loop's decide uses (runtime/decisions.py): pure, so tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from devtools.catalog import quiet_loop
from streamops.control.runtime.decisions import (
    ForceDelete,
    PostEvent,
    Reconcile,
    SpecOutcome,
    StatusInputs,
    Wake,
    WriteStatus,
    lost_pods,
    reconcile_if_due,
    replaced_events,
    status_only,
    wake,
)
from streamops.control.shared.conditions import WORKER_REPLACED
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange

NOW = datetime(2026, 11, 29, 18, 0, 0, 250_000, tzinfo=UTC)
SETTINGS = OperatorSettings()
FACTS = quiet_loop("cam", NOW, SETTINGS, generation=3)
RUNNING = PodObservation(name="cam-ingest", exists=True, uid="u1", phase="Running", ip="10.0.0.5", http_port=8080)
LOST_DEADLINE = NOW - timedelta(seconds=SETTINGS.node_loss.force_delete_seconds + 1)
LOST = replace(RUNNING, deletion_deadline=LOST_DEADLINE, deletion_grace_seconds=0, node="n2")


def test_the_status_time_is_to_the_second():
    assert FACTS.stamp == NOW.replace(microsecond=0)


def test_a_reconcile_is_decided_only_when_due_with_its_hints_in_order():
    assert reconcile_if_due(FACTS, {"b": True, "a": "x"}) == []
    due = replace(FACTS, reconcile_due=True)
    assert reconcile_if_due(due, {"b": True, "a": "x"}) == [Reconcile((("a", "x"), ("b", True)))]


@pytest.mark.parametrize(
    ("pod", "deleted", "expected"),
    [
        (None, frozenset(), []),
        (RUNNING, frozenset(), []),
        (LOST, frozenset(), [ForceDelete(LOST, NOW)]),
        (LOST, frozenset({"u1"}), []),  # deleted once already: the index may lag
        (replace(LOST, deletion_deadline=NOW), frozenset(), []),  # within its margin still
    ],
    ids=["no pod", "running", "lost", "already deleted", "within the margin"],
)
def test_a_lost_pod_gets_one_force_delete(pod, deleted, expected):
    assert lost_pods(replace(FACTS, force_deleted=deleted), [pod]) == expected


def test_only_a_replaced_worker_has_its_event():
    replaced = PodChange("replace", "image")
    events = replaced_events({"ingest": ("cam-ingest", replaced), "recorder": ("cam-rec", PodChange("keep"))})
    assert [e.reason for e in events] == [WORKER_REPLACED]
    assert isinstance(events[0], PostEvent) and "cam-ingest" in events[0].message


@pytest.mark.parametrize(
    ("facts", "pods", "timeout"),
    [
        (FACTS, [], SETTINGS.telemetry.idle_interval_seconds),
        (FACTS, [RUNNING], SETTINGS.telemetry.interval_seconds),
        (replace(FACTS, retry_in=0.2), [], 0.2),
        (replace(FACTS, retry_in=-1.0), [], 0.0),
    ],
    ids=["nothing to read", "a worker to read", "a reconcile to retry", "a retry overdue"],
)
def test_the_next_tick(facts, pods, timeout):
    assert wake(facts, pods) == Wake(timeout)


def test_the_next_tick_comes_no_later_than_a_terminating_pod_counts_as_lost():
    deadline = NOW + timedelta(seconds=1) - timedelta(seconds=SETTINGS.node_loss.force_delete_seconds)
    terminating = replace(RUNNING, ip=None, deletion_deadline=deadline, deletion_grace_seconds=0)
    assert wake(FACTS, [terminating]).timeout == pytest.approx(1.1)


OUTCOME = SpecOutcome(generation=3)


@pytest.mark.parametrize(
    ("facts", "outcome", "memory", "writes"),
    [
        (replace(FACTS, reconcile_due=True), OUTCOME, StatusInputs(), False),  # reconcile first, write next tick
        (FACTS, None, StatusInputs(), False),  # never reconciled: nothing to say
        (FACTS, OUTCOME, StatusInputs(), True),
        (FACTS, OUTCOME, StatusInputs((3, OUTCOME, 2)), False),  # nothing changed
        (replace(FACTS, write_pending=True), OUTCOME, StatusInputs((3, OUTCOME, 2)), True),  # deferred: again
        (replace(FACTS, generation=4), OUTCOME, StatusInputs((3, OUTCOME, 2)), True),  # the spec changed
    ],
    ids=["reconcile due", "no outcome", "first", "unchanged", "deferred", "new generation"],
)
def test_a_kind_without_workers_writes_its_status_when_its_inputs_change(facts, outcome, memory, writes):
    actions, after = status_only(facts, outcome, 2, memory, lambda o: {"observedGeneration": o.generation})
    assert isinstance(actions[-1], Wake)
    written = [a for a in actions if isinstance(a, WriteStatus)]
    assert bool(written) == writes
    if writes:
        assert written[0].status == {"observedGeneration": 3}
        assert after == StatusInputs((facts.generation, outcome, 2))
    else:
        assert after == memory
    assert any(isinstance(a, Reconcile) for a in actions) == facts.reconcile_due
