"""A broadcast's status (pure): which stream is on air, the phase from the user's state, Ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from streamops.api.broadcast import BroadcastSpec
from streamops.control.broadcast.status import broadcast_status
from streamops.control.runtime.indexes import StreamFacts

T0 = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)


def facts(live: bool = False, backup_live: bool = False) -> StreamFacts:
    return StreamFacts(uid="u", live=live, backup_live=backup_live)


def test_the_first_live_stream_in_order_is_on_air() -> None:
    spec = BroadcastSpec(streams=["main", "backup"])
    both = broadcast_status("keynote", spec, None, 1, {"main": facts(True), "backup": facts(True)}, T0)
    assert (both.phase, both.on_air, both.live_since) == ("Live", "main", T0)
    backup = broadcast_status(
        "keynote", spec, both, 1, {"main": facts(), "backup": facts(True)}, T0 + timedelta(seconds=5)
    )
    assert (backup.phase, backup.on_air) == ("Live", "backup")
    assert backup.live_since == T0, "the broadcast stayed live while its camera changed"


def test_a_stream_live_on_its_backup_ingest_counts_as_live() -> None:
    status = broadcast_status("keynote", BroadcastSpec(streams=["cam"]), None, 1, {"cam": facts(backup_live=True)}, T0)
    assert status.on_air == "cam"


def test_nothing_live_is_pending_and_the_users_state_wins() -> None:
    spec = BroadcastSpec(streams=["cam"])
    assert broadcast_status("keynote", spec, None, 1, {"cam": facts()}, T0).phase == "Pending"
    for state in ("Pending", "Paused", "Finished"):
        status = broadcast_status(
            "keynote", BroadcastSpec(streams=["cam"], state=state), None, 1, {"cam": facts(True)}, T0
        )
        assert (status.phase, status.on_air, status.live_since) == (state, None, None)
    live = broadcast_status("keynote", BroadcastSpec(streams=["cam"], state="Live"), None, 1, {"cam": facts()}, T0)
    assert live.phase == "Pending", "Live shows the stream on air; with none live, the pending message"


def test_ready_names_the_streams_that_do_not_exist() -> None:
    status = broadcast_status("keynote", BroadcastSpec(streams=["a", "b", "c"]), None, 3, {"b": facts(True)}, T0)
    [ready] = status.conditions
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "StreamsMissing")
    assert ready.message == "no LiveStream a, c in the namespace" and status.observed_generation == 3
    assert [(m.name, m.found, m.live) for m in status.streams or []] == [
        ("a", False, False),
        ("b", True, True),
        ("c", False, False),
    ]
    assert status.on_air == "b"


def test_a_stream_named_twice_or_none_is_refused() -> None:
    with pytest.raises(ValidationError, match="named twice"):
        BroadcastSpec(streams=["a", "b", "a"])
    with pytest.raises(ValidationError):
        BroadcastSpec(streams=[])


def test_the_page_is_beside_the_first_stream_with_a_playback_url() -> None:
    spec = BroadcastSpec(streams=["main", "backup"])
    backup = StreamFacts(uid="u", live=False, backup_live=False, player_url="http://h/streams/ns/backup/player")
    status = broadcast_status("keynote", spec, None, 1, {"main": facts(), "backup": backup}, T0)
    assert status.player_url == "http://h/streams/ns/backup/broadcasts/keynote/player"
    assert broadcast_status("keynote", spec, None, 1, {"main": facts()}, T0).player_url is None
