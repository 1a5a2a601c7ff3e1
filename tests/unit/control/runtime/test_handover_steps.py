"""What the three kinds' handovers share (control/runtime/handover_steps.py), and the fixtures their
unit tests share: a worker Pod and its successor in the other slot, and the operator settings under
which a busy worker that must change is handed over (a change of the node-loss toleration: a part of
every worker Pod)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from streamops.control.runtime.handover_steps import (
    RESEND_SECONDS,
    HandoverMemory,
    due,
    next_failure,
    pair_of,
    sent,
    worker_and_successor,
)
from streamops.control.shared.settings import NodeLossSettings, OperatorSettings, WorkerSettings
from streamops.control.workers.handover_marks import HandoverFailure
from streamops.control.workers.pod_observation import PodObservation

NOW = datetime(2026, 11, 30, 1, 0, 0, tzinfo=UTC)
HANDING_OVER = OperatorSettings(worker=WorkerSettings(restart_policy="handover"))
UPGRADED = HANDING_OVER.model_copy(
    update={"node_loss": NodeLossSettings(toleration_seconds=HANDING_OVER.node_loss.toleration_seconds + 7)}
)


def worker_pair(name: str, part: str) -> tuple[PodObservation, PodObservation]:
    """A Running, Ready worker Pod `name` (uid "old") and its Ready successor `name`-b (uid "new"),
    made 5 s ago because `part` changed."""
    old = PodObservation(name=name, exists=True, uid="old", phase="Running", ready=True, ip="10.0.0.9")
    new = replace(old, name=f"{name}-b", uid="new", ip="10.0.0.10", created_at=NOW - timedelta(seconds=5))
    return old, replace(new, successor_of="old", handover_for=part)


OLD, NEW = worker_pair("cam-worker", "containers[worker].image")


def test_the_pair_is_told_by_the_successor_s_annotation_not_by_the_names() -> None:
    turned = (replace(OLD, name="cam-worker-b"), replace(NEW, name="cam-worker"))
    assert pair_of(list(turned)) == turned
    assert pair_of([OLD, replace(NEW, successor_of="gone")]) is None
    assert pair_of([OLD, replace(NEW, deleting=True)]) is None
    assert worker_and_successor(list(turned)) == turned
    alone = replace(NEW, successor_of="")
    assert worker_and_successor([replace(OLD, deleting=True), alone]) == (alone, None), "not the one going"
    assert worker_and_successor([]) == (None, None)


def test_a_request_is_sent_again_only_after_the_resend_bound() -> None:
    memory = sent(HandoverMemory(), ["release/old"], 100.0)
    assert not due(memory, "release/old", 100.0 + RESEND_SECONDS / 2)
    assert due(memory, "release/old", 100.0 + RESEND_SECONDS) and due(memory, "start/new", 100.0)


def test_a_failure_counts_the_ones_in_a_row_and_keeps_its_record_short() -> None:
    first = next_failure(OLD, "x" * 500, NOW.replace(microsecond=7))
    assert first == HandoverFailure(NOW, 1, "x" * 400)
    assert next_failure(replace(OLD, handover_failed=first.record()), "again", NOW).count == 2
