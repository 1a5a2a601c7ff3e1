"""The ingest's player page (status.playback.playerUrl): WebRTC (WHEP) first when the stream serves it,
else hls.js or dash.js, pinned from npm and served by the worker itself (no CDN); and the publish page
(WHIP from the browser's camera with a pasted stream key). `make player` puts the two libraries into
assets/."""

from streamops.media.ingest.player.page import PLAYER_PATH, PUBLISH_PATH, IceServer, PlayerOptions, add_player_routes

__all__ = ["PLAYER_PATH", "PUBLISH_PATH", "IceServer", "PlayerOptions", "add_player_routes"]
