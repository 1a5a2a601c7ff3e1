"""A broadcast's status from the facts of the streams it names (pure): docs/design/broadcasts.md."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from streamops.api.broadcast import BroadcastMember, BroadcastPhase, BroadcastSpec, BroadcastStatus
from streamops.contract.ingest import BROADCASTS_PATH, PLAYER_PAGE
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.conditions import READY, Observed, merge_conditions

STREAMS_MISSING = "StreamsMissing"
STREAMS_FOUND = "StreamsFound"


def members(spec: BroadcastSpec, facts: Mapping[str, StreamFacts | None]) -> list[BroadcastMember]:
    """Each named stream in order: found, and live on its primary or its backup."""
    out = []
    for name in spec.streams:
        fact = facts.get(name)
        out.append(
            BroadcastMember(name=name, found=fact is not None, live=bool(fact and (fact.live or fact.backup_live)))
        )
    return out


def page_url(facts: StreamFacts | None, broadcast: str) -> str | None:
    """The broadcast's page beside a stream's player page (None: the stream has no playback URL)."""
    base = facts.playback_base if facts else None
    return f"{base}{BROADCASTS_PATH}/{broadcast}{PLAYER_PAGE}" if base else None


def phase_of(spec: BroadcastSpec, on_air: str | None) -> BroadcastPhase:
    """The user's state, Auto and Live resolved by whether a stream is on air."""
    if spec.state in ("Pending", "Paused", "Finished"):
        return spec.state
    return "Live" if on_air is not None else "Pending"


def broadcast_status(
    broadcast: str,
    spec: BroadcastSpec,
    previous: BroadcastStatus | None,
    generation: int | None,
    facts: Mapping[str, StreamFacts | None],
    now: datetime,
) -> BroadcastStatus:
    previous = previous or BroadcastStatus()
    listed = members(spec, facts)
    on_air = next((m.name for m in listed if m.live), None)
    phase = phase_of(spec, on_air)
    missing = [m.name for m in listed if not m.found]
    if missing:
        ready = Observed(READY, "False", STREAMS_MISSING, f"no LiveStream {', '.join(missing)} in the namespace")
    else:
        ready = Observed(READY, "True", STREAMS_FOUND, f"{len(listed)} stream(s); {phase}")
    live_since = previous.live_since if previous.phase == "Live" and phase == "Live" else None
    page = next((p for stream in spec.streams if (p := page_url(facts.get(stream), broadcast)) is not None), None)
    return BroadcastStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, [ready], generation, now),
        phase=phase,
        on_air=on_air if phase == "Live" else None,
        streams=listed,
        live_since=(live_since or now) if phase == "Live" else None,
        player_url=page,
    )
