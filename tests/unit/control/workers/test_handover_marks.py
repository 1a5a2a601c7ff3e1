"""What a handover writes on ingest Pods (control/workers/handover_marks.py): which of a role's two
Pods serves, the failure record and its backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamops.control.workers.handover_marks import (
    HandoverFailure,
    Marks,
    marks_of,
    release_patch,
    serving_index,
)
from streamops.control.workers.ingest_address import ingest_slots

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


def pod(name: str, uid: str, serving: bool = False, successor_of: str = "", deleting: bool = False) -> Marks:
    return Marks(name, uid, True, deleting, serving, successor_of)


A, B = "cam-ingest", "cam-ingest-b"
NONE = Marks(B, "", False, False, False, "")


@pytest.mark.parametrize(
    ("pods", "serving"),
    [
        ([NONE, NONE], None),
        ([pod(A, "a", serving=True), NONE], 0),
        ([pod(A, "a"), NONE], 0),  # from an operator before handovers: it serves (and is labelled)
        ([pod(A, "a", serving=True), pod(B, "b", successor_of="a")], 0),  # a successor not yet serving
        ([pod(A, "a", serving=True), pod(B, "b", serving=True, successor_of="a")], 1),  # between the label patches
        ([pod(A, "a"), pod(B, "b", serving=True, successor_of="a")], 1),  # handed over
        ([NONE, pod(B, "b", successor_of="gone")], 1),  # its predecessor is gone: it serves
        ([pod(A, "a", serving=True, deleting=True), pod(B, "b", successor_of="a")], 1),
        # the next handover, back into the first slot: the newest successor once labelled
        ([pod(A, "c", serving=True, successor_of="b"), pod(B, "b", serving=True, successor_of="a")], 0),
    ],
)
def test_which_pod_serves(pods: list[Marks], serving: int | None) -> None:
    assert serving_index(pods) == serving


def test_the_two_slots_clash_with_no_other_child() -> None:
    assert ingest_slots("cam", "primary") == ("cam-ingest", "cam-ingest-b")
    assert ingest_slots("cam", "backup") == ("cam-ingest-backup", "cam-ingest-backup-b")
    long = "s" * 60
    first, second = ingest_slots(long, "primary")
    assert first != second and len(second) <= 63


def test_marks_are_read_from_a_manifest() -> None:
    manifest = {
        "metadata": {
            "uid": "u",
            "labels": {"streaming.streamops.dev/serving": "true"},
            "annotations": {"streaming.streamops.dev/successor-of": "p"},
        }
    }
    assert marks_of("x", manifest) == Marks("x", "u", True, False, True, "p")
    assert marks_of("x", None).exists is False


def test_a_failure_record_round_trips_and_backs_off_to_ten_minutes() -> None:
    first = HandoverFailure(NOW, 1, "not Ready")
    assert HandoverFailure.parse(first.record()) == first
    assert first.retry_at == NOW + timedelta(seconds=30)
    assert HandoverFailure(NOW, 3, "").retry_at == NOW + timedelta(seconds=120)
    assert HandoverFailure(NOW, 12, "").retry_at == NOW + timedelta(minutes=10)
    assert HandoverFailure.parse("not json") is None and HandoverFailure.parse('{"at": 1}') is None


def test_the_release_patch_drops_the_label_and_says_when() -> None:
    assert release_patch(NOW) == {
        "metadata": {
            "labels": {"streaming.streamops.dev/serving": None, "streaming.streamops.dev/releasing": "true"},
            "annotations": {"streaming.streamops.dev/handed-over-at": "2026-11-29T18:00:00Z"},
        }
    }
