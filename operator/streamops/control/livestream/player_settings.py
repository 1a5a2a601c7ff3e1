"""The player page's settings in a LiveStream's running ingests (docs/design/projection.md,
docs/design/broadcasts.md): spec.playback.projection and the Broadcasts that name the stream reach
each ingest by POST /player-settings, never through its configuration, so a change restarts nothing.
Decided pure (`settings_due`: the ingests whose /status shows other settings than these; decide.py
makes each a WorkerRequest, one in flight per ingest and never awaited by the tick, presenting the
worker credential alone); level-based: sent again at each tick until /status shows them (an ingest
starts with the defaults, so a new or restarted one is set at its first tick)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, get_args

from streamops.api.broadcast import BroadcastPhase
from streamops.api.livestream import Projection
from streamops.contract.ingest import (
    BROADCAST_MEMBERS_MAX,
    BROADCASTS_PER_STREAM,
    BroadcastMemberView,
    BroadcastView,
    IngestStatus,
    PlayerSettings,
    Role,
)
from streamops.control.runtime.indexes import BroadcastFacts, StreamFacts

PROJECTIONS: tuple[Projection, ...] = get_args(Projection)
PHASES: tuple[BroadcastPhase, ...] = get_args(BroadcastPhase)


def spec_projection(spec: Mapping[str, Any]) -> Projection:
    """spec.playback.projection of the object as stored (the API server checked it against the
    enum; anything else, or none, is regular): read without building the stream's model each tick."""
    playback = spec.get("playback")
    value = playback.get("projection") if isinstance(playback, Mapping) else None
    return next((p for p in PROJECTIONS if p == value), "regular")


def member_view(name: str, facts: StreamFacts | None) -> BroadcastMemberView:
    """Where a broadcast's page finds one of its streams: the base its playback URLs share (the player
    page's URL without /player) and its playlist relative to it."""
    base = facts.playback_base if facts else None
    hls = facts.hls_url if facts else None
    relative = hls[len(base) + 1 :] if base and hls and hls.startswith(base + "/") else None
    return BroadcastMemberView(name=name, base=base, hls=relative, signed=bool(facts and facts.signed))


def broadcast_views(
    broadcasts: Iterable[BroadcastFacts], streams: Callable[[str], StreamFacts | None]
) -> list[BroadcastView] | None:
    """The broadcasts that name a stream, as its pages show them (by name; the first BROADCASTS_PER_STREAM);
    None when there are none (the settings then read as they did before broadcasts)."""
    views = [
        BroadcastView(
            name=b.name,
            title=b.title,
            phase=b.phase if b.phase in PHASES else "Pending",
            on_air=b.on_air,
            message=b.message,
            members=[member_view(m, streams(m)) for m in b.members[:BROADCAST_MEMBERS_MAX]],
        )
        for b in sorted(broadcasts, key=lambda b: b.name)[:BROADCASTS_PER_STREAM]
    ]
    return views or None


def settings_due(wanted: PlayerSettings, telemetry: Mapping[Role, IngestStatus]) -> dict[Role, PlayerSettings]:
    """The settings to POST to each ingest whose /status reports others (by their digest); to a worker
    older than broadcasts (no digest), the projection alone when it reports another; none to one that
    reports neither (older than the projection: it has no such route, and shows regular)."""
    due = {}
    for role, report in telemetry.items():
        if report.player_settings is not None:
            if report.player_settings != wanted.digest():
                due[role] = wanted
        elif report.projection is not None and report.projection != wanted.projection:
            due[role] = PlayerSettings(projection=wanted.projection)
    return due
