"""The ingest's player page (status.playback.playerUrl): hls.js or dash.js, pinned from npm and
served by the worker itself (no CDN). `make player` puts the two libraries into assets/."""

from streamops.media.ingest.player.page import PLAYER_PATH, PlayerOptions, add_player_routes

__all__ = ["PLAYER_PATH", "PlayerOptions", "add_player_routes"]
