"""Backup failover, pure parts: failover.decide() over timelines of what a primary ingest sees (its
own publisher's media, the relay of its backup's), and the signed uplink from backup to primary."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from streamops.contract.ingest import Role
from streamops.contract.stamped_token import MAX_AGE_SECONDS
from streamops.media.ingest.backup_link import uplink_token, uplink_token_valid
from streamops.media.ingest.failover import (
    BREAK_SECONDS,
    PREPARE_SILENCE_SECONDS,
    SWITCH_SILENCE_SECONDS,
    Decision,
    Flow,
    decide,
)

STABLE = 10.0
STEP = 0.1  # the timeline's resolution (the worker decides every 0.2 s and on every session event)


@dataclass
class Timeline:
    """A primary's view, step by step: which source sends at each moment; the decision is applied
    (on_air follows it) as the worker does."""

    own_sends: list[tuple[float, float]] = field(default_factory=list)  # [start, end) spans of own media
    backup_sends: list[tuple[float, float]] = field(default_factory=list)
    stable_seconds: float = STABLE

    def run(self, until: float) -> list[tuple[float, Decision]]:
        own, backup, on_air = Flow(), Flow(), None
        out: list[tuple[float, Decision]] = []
        for i in range(round(until / STEP) + 1):
            now = round(i * STEP, 3)
            if any(a <= now < b for a, b in self.own_sends):
                own = own.media(now)
            if any(a <= now < b for a, b in self.backup_sends):
                backup = backup.media(now)
            decision = decide(now, own, backup, on_air, self.stable_seconds)
            on_air = decision.on_air
            out.append((now, decision))
        return out


def on_air_at(history: list[tuple[float, Decision]], moment: float) -> str | None:
    return next(d.on_air for t, d in history if t >= moment - 1e-9)


def switches(history: list[tuple[float, Decision]]) -> list[tuple[float, str | None]]:
    found, before = [], None
    for t, d in history:
        if d.on_air != before:
            found.append((t, d.on_air))
            before = d.on_air
    return found


def test_primary_alone_is_on_air_and_never_asks_for_the_backup_while_it_sends():
    history = Timeline(own_sends=[(0, 30)]).run(30)
    assert switches(history) == [(0, "primary")]
    assert not any(d.wanted for t, d in history if t < 30)


def test_primary_stops_the_backup_takes_the_air_within_the_switch_silence():
    history = Timeline(own_sends=[(0, 10)], backup_sends=[(0, 60)]).run(30)
    ((t_primary, first), (t_backup, second)) = switches(history)
    assert (first, second) == ("primary", "backup") and t_primary == 0
    assert 10 + SWITCH_SILENCE_SECONDS - STEP <= t_backup <= 10 + SWITCH_SILENCE_SECONDS + STEP
    # The backup was asked for before the switch was due: its relay runs by then.
    asked = next(t for t, d in history if d.wanted)
    assert asked == pytest.approx(10 + PREPARE_SILENCE_SECONDS - STEP, abs=STEP + 1e-9)


def test_a_short_stall_of_the_primary_asks_for_the_backup_but_keeps_the_primary_on_air():
    history = Timeline(own_sends=[(0, 10), (11.5, 30)], backup_sends=[(0, 30)]).run(30)
    assert switches(history) == [(0, "primary")]
    assert any(d.wanted for t, d in history if 10 < t < 11.5)
    assert not any(d.wanted for t, d in history if t >= 11.6)


def test_switch_back_only_after_the_primary_is_back_and_stable():
    history = Timeline(own_sends=[(0, 10), (20, 60)], backup_sends=[(0, 60)], stable_seconds=STABLE).run(60)
    assert [s for _, s in switches(history)] == ["primary", "backup", "primary"]
    back = switches(history)[-1][0]
    assert back == pytest.approx(20 + STABLE, abs=STEP + 1e-9)
    # While the primary proves itself the backup's feed is still wanted; after the switch, not.
    assert all(d.wanted for t, d in history if 20 <= t < back)
    assert not any(d.wanted for t, d in history if t > back)


def test_a_flapping_primary_never_takes_the_air_back():
    # Back for 6 s, gone for 3 s, again and again: never stable for 10 s.
    spans = [(20 + 9 * k, 26 + 9 * k) for k in range(6)]
    history = Timeline(own_sends=[(0, 10), *spans], backup_sends=[(0, 80)]).run(80)
    assert [s for _, s in switches(history)] == ["primary", "backup"]


def test_a_gap_longer_than_the_break_restarts_the_stability_count():
    # Back at 20; a 1.5 s gap at 25 (the stream stays on the backup), steady from 26.5 on.
    history = Timeline(own_sends=[(0, 10), (20, 25), (26.5, 60)], backup_sends=[(0, 60)]).run(60)
    back = switches(history)[-1]
    assert back[1] == "primary" and back[0] == pytest.approx(26.5 + STABLE, abs=STEP + 1e-9)
    assert BREAK_SECONDS < 1.5


def test_backup_gone_while_on_air_the_primary_takes_it_at_once_stable_or_not():
    history = Timeline(own_sends=[(0, 10), (20, 60)], backup_sends=[(0, 22)]).run(40)
    back = switches(history)[-1]
    assert back[1] == "primary"
    assert back[0] == pytest.approx(22 + SWITCH_SILENCE_SECONDS - STEP, abs=STEP + 1e-9), "not 20 + 10 s"


def test_backup_only_stream_goes_on_air_from_the_backup():
    history = Timeline(backup_sends=[(5, 30)]).run(30)
    assert switches(history) == [(5, "backup")] and on_air_at(history, 4.9) is None
    assert all(d.wanted for _, d in history), "a primary with nothing of its own always asks"


def test_nothing_sends_whatever_was_on_air_stays():
    history = Timeline(own_sends=[(0, 5)]).run(20)
    assert switches(history) == [(0, "primary")], "the worker's feed says it is over; no switch to nothing"


@pytest.mark.parametrize("silence", [0.5, 1.9])
def test_flow_sending_and_steadiness(silence):
    flow = Flow.started(100.0).media(100.5)
    assert flow.sending(100.5 + silence) and flow.steady_for(100.9) == pytest.approx(0.9)
    assert not flow.sending(100.5 + SWITCH_SILENCE_SECONDS)
    assert Flow().steady_for(5) == 0 and not Flow().sending(5)
    broken = flow.media(100.5 + BREAK_SECONDS + 0.1)
    assert broken.since == broken.last, "a gap longer than the break begins a new run"


# --- the signed uplink -------------------------------------------------------------------------------


def test_uplink_token_is_bound_to_key_stream_failback_and_time():
    key, now = b"k" * 24, 1_800_000_000.0
    token = uplink_token(key, "cam", 10, now)
    assert uplink_token_valid(key, "cam", 10, token, now + 5)
    assert key.decode() not in token
    assert not uplink_token_valid(b"other-key", "cam", 10, token, now)
    assert not uplink_token_valid(key, "other", 10, token, now)
    assert not uplink_token_valid(key, "cam", 11, token, now), "the failback setting it carries is signed"
    assert not uplink_token_valid(key, "cam", 10, token, now + MAX_AGE_SECONDS + 1)
    for bad in ("", "x", "123", "abc.def", f"{int(now)}.", token.replace(".", "")):
        assert not uplink_token_valid(key, "cam", 10, bad, now)
    # Digits str.isdigit() takes and int() refuses ("²", a latin-1 byte) or reads ("３"): refused, no error.
    for bad in ("².abc", "１８００００００００." + token.partition(".")[2]):
        assert not uplink_token_valid(key, "cam", 10, bad, now)


@pytest.mark.parametrize(
    ("own", "backup", "on_air", "expected"),
    [
        (True, True, "primary", Decision(on_air="backup", wanted=True)),  # the switchover: backup on air
        (True, False, "primary", Decision(on_air="primary", wanted=True)),  # asked; own stays until it flows
        (False, False, None, Decision(on_air=None, wanted=True)),
        (False, True, "backup", Decision(on_air="backup", wanted=True)),
    ],
)
def test_a_yielding_primary_puts_its_backup_on_air_while_it_sends(
    own: bool, backup: bool, on_air: Role | None, expected: Decision
) -> None:
    now = 100.0
    flows = {True: Flow(since=now - 30, last=now - 0.05), False: Flow()}
    assert decide(now, flows[own], flows[backup], on_air, STABLE, yielding=True) == expected
    if own and backup:  # the lease ended: own media steady for longer than stableSeconds takes the air back
        assert decide(now, flows[own], flows[backup], "backup", STABLE) == Decision(on_air="primary", wanted=False)
