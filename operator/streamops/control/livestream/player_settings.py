"""The player page's settings in a LiveStream's running ingests (docs/design/projection.md):
spec.playback.projection reaches each ingest by POST /player-settings, never through its
configuration, so a change restarts nothing. Decided pure (`settings_due`: the ingests whose /status
shows another projection than the spec's) and sent by `PlayerSettingsSender`, one POST in flight
per ingest and never awaited by the tick; level-based: sent again at each tick until /status shows
it (an ingest starts with regular, so a new or restarted one is set at its first tick)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from streamops.api.livestream import Projection
from streamops.contract.ingest import PLAYER_SETTINGS_PATH, IngestStatus, PlayerSettings, Role
from streamops.control.livestream.ingest_posts import IngestPosts
from streamops.control.workers.pod_observation import PodObservation

PROJECTIONS: tuple[Projection, ...] = get_args(Projection)


def spec_projection(spec: Mapping[str, Any]) -> Projection:
    """spec.playback.projection of the object as stored (the API server checked it against the
    enum; anything else, or none, is regular): read without building the stream's model each tick."""
    playback = spec.get("playback")
    value = playback.get("projection") if isinstance(playback, Mapping) else None
    return next((p for p in PROJECTIONS if p == value), "regular")


def settings_due(projection: Projection, telemetry: Mapping[Role, IngestStatus]) -> dict[Role, PlayerSettings]:
    """The settings to POST to each ingest whose /status reports another projection; none to one that
    reports none (a worker older than the setting: it has no such route, and shows regular)."""
    return {
        role: PlayerSettings(projection=projection)
        for role, report in telemetry.items()
        if report.projection is not None and report.projection != projection
    }


class PlayerSettingsSender(IngestPosts):
    """One per stream loop: POSTs each role's settings unless one is still in flight there
    (ingest_posts.py). The internal face's worker credential is all a page setting carries."""

    async def send(self, settings: Mapping[Role, PlayerSettings], pods: Mapping[Role, PodObservation]) -> None:
        await self.post(self.due(settings, pods), PLAYER_SETTINGS_PATH)
