"""`Cache-Control` and `Surrogate-Control` on every answer of the ingest's public face, from the one
table (contract/cache_policy.py): an on_response_prepare signal, so that every route — HLS, LL-HLS,
DASH, the screenshot, the clock, the player page and assets, WHIP/WHEP, the probes, the playback gate's
refusals, the load caps' 429/503, aiohttp's own 404 and 405 — gets a deliberate policy without each
handler choosing one (docs/design/cdn.md). A handler that knows more than the path says (a playlist
that ended, a versioned asset) puts its kind in the response under CACHE_KIND.
"""

from __future__ import annotations

from aiohttp import web

from streamops.contract.cache_policy import Kind, Timing, cache_headers
from streamops.contract.ingest import BROADCAST_STATE, BROADCASTS_PATH, CLOCK_PATH, SCREENSHOT_PATH, IngestConfig

CACHE_KIND = "streamops.cache_kind"  # a handler's word on its response's Kind
ENDLIST = b"#EXT-X-ENDLIST"
_REFUSED = frozenset({401, 403, 429})


def timing(config: IngestConfig) -> Timing:
    return Timing(segment_seconds=config.hls.segment_seconds, screenshot_seconds=config.screenshots.interval_seconds)


def signed(config: IngestConfig) -> bool:
    return config.playback is not None and config.playback.access == "signed"


def kind_of(method: str, path: str, query: dict[str, str] | None, status: int, low_latency: bool) -> Kind:
    """What an answer is, from its request and status (the handler's CACHE_KIND aside)."""
    if status >= 400:
        if status == 404:
            return Kind.NOT_FOUND
        return Kind.REFUSAL if status in _REFUSED else Kind.ERROR
    if method not in ("GET", "HEAD") or status >= 300:
        return Kind.PER_VIEWER  # WHEP/WHIP signalling, preflights, the player/ redirect
    parts = path.split("/")
    name = parts[-1]
    if "hls" in parts[:-1]:
        if name.endswith(".m3u8"):
            if query and "_HLS_msn" in query:
                return Kind.BLOCKING_PLAYLIST
            return Kind.LL_PLAYLIST if low_latency and "cmaf" in parts else Kind.LIVE_PLAYLIST
        if name.startswith("part-"):
            return Kind.PART
        return Kind.INIT if name.startswith("init") else Kind.SEGMENT
    if len(parts) >= 2 and parts[-2] == "dash":
        if name.endswith(".mpd"):
            return Kind.MANIFEST
        if name == CLOCK_PATH.lstrip("/"):
            return Kind.PER_VIEWER
        return Kind.INIT if name.startswith("init") else Kind.DASH_SEGMENT
    if path.endswith(SCREENSHOT_PATH):
        return Kind.SCREENSHOT
    if name == "player":
        return Kind.PLAYER_PAGE
    if len(parts) >= 3 and parts[-3] == BROADCASTS_PATH.lstrip("/") and name == BROADCAST_STATE:
        return Kind.BROADCAST_STATE
    if len(parts) >= 2 and parts[-2] == "player":
        return Kind.PLAYER_ASSET
    # An encrypted stream's key (encrypted_hls.py); else the clock, /whep, /whip, the publish page, the probes.
    return Kind.KEY if parts[-2:-1] == ["key"] else Kind.PER_VIEWER


def install(app: web.Application, config: IngestConfig) -> None:
    """Set the table's headers on every answer of `app` (the public face) of the stream `config`."""
    stream_timing, stream_signed, low_latency = timing(config), signed(config), config.hls.low_latency

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        kind = response.get(CACHE_KIND)
        if not isinstance(kind, Kind) or response.status >= 300:
            kind = kind_of(request.method, request.path, dict(request.query), response.status, low_latency)
            body = getattr(response, "body", None)
            if kind in (Kind.LIVE_PLAYLIST, Kind.LL_PLAYLIST) and isinstance(body, bytes) and ENDLIST in body:
                kind = Kind.ENDED_PLAYLIST
        response.headers.update(cache_headers(kind, stream_timing, signed=stream_signed))

    app.on_response_prepare.append(on_prepare)
