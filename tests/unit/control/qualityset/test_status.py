"""A quality set's status: its generation read, its qualities tallest first, how many streams use it."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.catalog import quality_set, stored
from streamops.api import QualitySet
from streamops.control.qualityset.status import quality_set_status

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def stored_set(*renditions: dict, generation: int = 2, status: dict | None = None) -> QualitySet:
    return QualitySet.model_validate(stored(quality_set("hd", *renditions), status, generation=generation))


def test_ready_says_the_generation_read_the_qualities_and_the_users() -> None:
    qs = stored_set(
        {"name": "360p", "height": 360, "videoBitrateKbps": 800},
        {"name": "720p", "height": 720, "videoBitrateKbps": 3000},
    )
    status = quality_set_status(qs, 2, T0)
    assert status.observed_generation == 2 and status.qualities == ["720p", "360p"] and status.streams == 2
    [ready] = status.conditions
    assert (ready.type, ready.status, ready.reason, ready.observed_generation) == ("Ready", "True", "Accepted", 2)
    assert ready.message == (
        "2 rendition(s) (720p, 360p), used by 2 LiveStreams; a change reaches each at its next session"
    )
    assert "used by 1 LiveStream;" in (quality_set_status(qs, 1, T0).conditions[0].message or "")


def test_a_new_generation_keeps_readys_transition_time() -> None:
    first = quality_set_status(stored_set(generation=1), 0, T0)
    later = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    again = quality_set_status(stored_set(generation=2, status=first.wire()), 0, later)
    assert again.observed_generation == 2
    assert again.conditions[0].last_transition_time == T0, "Ready stayed True"
