"""The player page: GET {prefix}/player (player.html with the stream's options as a JSON blob) and
its scripts under {prefix}/player/: player.js, webrtc.js (WHEP/WHIP), projection.js (360°/180°), and
hls.js, dash.js and three.js as `make player` copies them into assets/ (pinned in
player/package-lock.json; no CDN). Without them the page still renders, saying what is missing, and
their routes answer 500 with the command to run. Embeddable in an iframe on any origin: no
frame-blocking headers. Why: docs/design/low-latency.md ("The player page"). With `whep` the page
plays WebRTC first and falls back to HLS (player.js). With a projection other than regular it
renders the video on a sphere with three.js (docs/design/projection.md).

The publish page: GET {prefix}/publish (publish.html, the same look: theme.html), publishing this
browser's camera and microphone over WHIP to {prefix}/whip with a pasted stream key (publish.js);
its scripts are the player's assets, under {prefix}/player/.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from streamops.contract.cache_policy import Kind
from streamops.contract.ingest import PLAYER_PAGE, PUBLISH_PAGE, WHEP_PATH, WHIP_PATH
from streamops.media.ingest.cache_headers import CACHE_KIND
from streamops.media.ingest.playback_access import Guard, no_guard
from streamops.media.ingest.viewers import RequestKind

PLAYER_PATH = PLAYER_PAGE  # the contract's: the operator builds status.playback.playerUrl from it
PUBLISH_PATH = PUBLISH_PAGE

HERE = Path(__file__).parent
ASSETS_DIR = HERE / "assets"  # filled by `make player`
PAGE_TEMPLATE = HERE / "player.html"
PUBLISH_TEMPLATE = HERE / "publish.html"
THEME = HERE / "theme.html"  # the <style> both pages share

JS = "text/javascript; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
# Asset URLs carry ?v=<content hash>: a cached copy is never stale, so it may be kept for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"  # the page (and an asset asked for without its version): revalidate each time
MISSING = (
    "{name} is not in this worker's package: run `make player` (npm ci of player/package-lock.json, "
    "which copies hls.js, dash.js and three.js into operator/streamops/media/ingest/player/assets/) before installing "
    "streamops or building its images.\n"
)


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server for the pages' peer connections (RTCIceServer)."""

    urls: tuple[str, ...]  # "stun:host:port", "turn:host:port?transport=udp", ...
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, object]:
        value: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            value["username"] = self.username
        if self.credential is not None:
            value["credential"] = self.credential
        return value


def stun_only(servers: tuple[IceServer, ...]) -> tuple[IceServer, ...]:
    """What a client that passed no check gets: the STUN URIs, no credential. TURN URIs are left out
    (without a credential browsers refuse the whole peer connection)."""
    found = (IceServer(tuple(url for url in server.urls if url.startswith("stun"))) for server in servers)
    return tuple(server for server in found if server.urls)


@dataclass(frozen=True)
class PlayerOptions:
    stream: str  # the LiveStream's name: the page title
    hls_path: str | None  # relative to the page URL, e.g. "hls/cmaf/index.m3u8" (None: no HLS)
    dash_path: str | None  # relative, e.g. "dash/manifest.mpd" (None: no DASH)
    low_latency: bool  # the HLS playlist is LL-HLS: hls.js lowLatencyMode on
    poster_path: str | None  # relative, e.g. "screenshot.jpg"
    # The ingest serves WHEP at {prefix}/whep: the player tries WebRTC first (?format=auto).
    whep: bool = False
    # The ingest takes WHIP at {prefix}/whip (source.push.protocols has whip): the publish page's
    # Start button is on (without it the page says the stream does not take WHIP).
    whip: bool = False
    # STUN/TURN servers for the pages' peer connections; none by default (the ingest's candidates
    # name its exposure, docs/design/webrtc.md); the worker's come from playback.webrtc.iceServersSecretRef.
    # The player page (behind the playback gate) carries them whole: whoever may load it reads the TURN
    # credential (inherent to TURN in browsers). The publish page, open to anyone, carries STUN only:
    # a publisher gets TURN credentials with its authenticated WHIP answers (Link headers).
    ice_servers: tuple[IceServer, ...] = ()
    # How the page shows the picture (PlayerSettings.projection): regular, or on a sphere (projection.js
    # with three.js) for vr360, vr180 and vr360tb.
    projection: str = "regular"


@dataclass(frozen=True)
class Asset:
    path: Path
    content_type: str
    vendored: bool  # copied from npm by `make player` (absent until it runs)


ASSETS: dict[str, Asset] = {
    "player.js": Asset(HERE / "player.js", JS, vendored=False),
    "webrtc.js": Asset(HERE / "webrtc.js", JS, vendored=False),
    "publish.js": Asset(HERE / "publish.js", JS, vendored=False),
    "projection.js": Asset(HERE / "projection.js", JS, vendored=False),
    "broadcast.js": Asset(HERE / "broadcast.js", JS, vendored=False),
    "hls.min.js": Asset(ASSETS_DIR / "hls.min.js", JS, vendored=True),
    "dash.all.min.js": Asset(ASSETS_DIR / "dash.all.min.js", JS, vendored=True),
    # three.js's ES modules (no minified build since r171): the WebGL renderer, and the core it imports
    # as ./three.core.js (so that name, beside it; asked for without ?v=, revalidated: NO_CACHE).
    "three.module.js": Asset(ASSETS_DIR / "three.module.js", JS, vendored=True),
    "three.core.js": Asset(ASSETS_DIR / "three.core.js", JS, vendored=True),
    # The licences the minified builds point at (dash.all.min.js names its third-party notices file).
    "hls.js.LICENSE": Asset(ASSETS_DIR / "hls.js.LICENSE", TEXT, vendored=True),
    "dashjs.LICENSE.md": Asset(ASSETS_DIR / "dashjs.LICENSE.md", TEXT, vendored=True),
    "dash.all.min.js.LICENSE.txt": Asset(ASSETS_DIR / "dash.all.min.js.LICENSE.txt", TEXT, vendored=True),
    "three.js.LICENSE": Asset(ASSETS_DIR / "three.js.LICENSE", TEXT, vendored=True),
    "VERSIONS": Asset(ASSETS_DIR / "VERSIONS", TEXT, vendored=True),  # "hls.js 1.7.4" ... one a line
}

_versions: dict[Path, tuple[tuple[int, int], str]] = {}


def asset_version(path: Path) -> str | None:
    """A short hash of the file's content (None when it is missing), recomputed when it changes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    cached = _versions.get(path)
    if cached is None or cached[0] != key:
        cached = key, hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        _versions[path] = cached
    return cached[1]


def asset_url(name: str) -> str | None:
    """The asset's URL relative to the page ({prefix}/player), versioned; None when it is missing."""
    version = asset_version(ASSETS[name].path)
    return None if version is None else f"player/{name}?v={version}"


def json_for_script(value: object) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' (so no '</script>' or '<!--'), ASCII only."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(options: PlayerOptions) -> str:
    """The page's HTML for `options`, with the current assets' versioned URLs."""
    scripts = {"hls": asset_url("hls.min.js"), "dash": asset_url("dash.all.min.js")}
    config: dict[str, object] = {
        "stream": options.stream,
        "hls": options.hls_path,
        "dash": options.dash_path,
        "lowLatency": options.low_latency,
        "poster": options.poster_path,
        "scripts": scripts,
    }
    # Only with WebRTC: a stream without it gets exactly the page it had before.
    if options.whep:
        config["whep"] = WHEP_PATH.lstrip("/")  # relative to the page: {prefix}/whep
        scripts["webrtc"] = asset_url("webrtc.js")
        if options.ice_servers:
            config["iceServers"] = [server.to_json() for server in options.ice_servers]
    # Likewise only on a sphere: a regular page loads no WebGL.
    if options.projection != "regular":
        config["projection"] = options.projection
        scripts["projection"] = asset_url("projection.js")
        scripts["three"] = asset_url("three.module.js")
    return (
        PAGE_TEMPLATE.read_text()
        .replace("{{THEME}}", THEME.read_text())
        .replace("{{TITLE}}", html.escape(options.stream))
        .replace("{{SCRIPT}}", html.escape(asset_url("player.js") or "player/player.js"))
        .replace("{{OPTIONS}}", json_for_script(config))
    )


def render_publish_page(options: PlayerOptions) -> str:
    """The publish page's HTML for `options`."""
    config = {
        "stream": options.stream,
        "whip": WHIP_PATH.lstrip("/") if options.whip else None,  # relative to the page: {prefix}/whip
        "player": PLAYER_PATH.lstrip("/"),
        "iceServers": [server.to_json() for server in stun_only(options.ice_servers)],
    }
    return (
        PUBLISH_TEMPLATE.read_text()
        .replace("{{THEME}}", THEME.read_text())
        .replace("{{TITLE}}", html.escape(options.stream))
        .replace("{{WEBRTC}}", html.escape(asset_url("webrtc.js") or "player/webrtc.js"))
        .replace("{{SCRIPT}}", html.escape(asset_url("publish.js") or "player/publish.js"))
        .replace("{{OPTIONS}}", json_for_script(config))
    )


def add_player_routes(
    app: web.Application,
    prefix: str,
    options: PlayerOptions | Callable[[web.Request], PlayerOptions],
    guard: Guard = no_guard,
    publish: bool = True,
) -> None:
    """GET {prefix}/player: the page; {prefix}/player/<asset>: hls.min.js, dash.all.min.js, the pages' own JS;
    GET {prefix}/publish: the publish page (WHIP from this browser; its Start button off unless `options.whip`).
    The player's routes go through `guard` (playback_access.py: a signed stream's token); `publish`:
    False under a token segment (publishing is not playback).

    `prefix` is "" or a path without a trailing slash ("/live/cam1"). Relative URLs in `options`
    resolve against {prefix}/player, i.e. from {prefix}/. `options` may be a function of the request:
    asked at each page request (the ICE servers' credentials change while the worker runs, and end
    with the request's token).
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"path prefix {prefix!r}: empty, or starting with / and not ending with one")
    page_path = prefix + PLAYER_PATH
    publish_path = prefix + PUBLISH_PATH
    current = options if callable(options) else lambda _: options

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            body=render_page(current(request)).encode(), headers={"Content-Type": HTML, "Cache-Control": NO_CACHE}
        )

    async def publish_page(request: web.Request) -> web.Response:
        # The key is typed into this page: it may not be framed by another origin (clickjacking), nor
        # cached, nor send a referrer (no-referrer in the page too).
        headers = {
            "Content-Type": HTML,
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        }
        return web.Response(body=render_publish_page(current(request)).encode(), headers=headers)

    async def slash(request: web.Request) -> web.Response:
        # {prefix}/player/ would resolve the page's relative URLs under player/: send it to the page.
        query = f"?{request.query_string}" if request.query_string else ""
        name = PUBLISH_PATH if request.path.rstrip("/").endswith(PUBLISH_PATH) else PLAYER_PATH
        raise web.HTTPFound(f"..{name}{query}")

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        known = ASSETS.get(name)
        if known is None:
            raise web.HTTPNotFound(text=f"no player asset {name!r}\n")
        version = asset_version(known.path)
        if version is None:
            if known.vendored:
                return web.Response(status=500, text=MISSING.format(name=name), headers={"Cache-Control": NO_CACHE})
            raise web.HTTPNotFound()
        versioned = request.query.get("v") == version
        response = web.FileResponse(
            known.path,
            headers={"Content-Type": known.content_type, "Cache-Control": IMMUTABLE if versioned else NO_CACHE},
        )
        # The ingest's Cache-Control comes from contract/cache_policy.py (media/ingest/cache_headers.py).
        response[CACHE_KIND] = Kind.VERSIONED_ASSET if versioned else Kind.PLAYER_ASSET
        return response

    app.router.add_get(page_path, guard(RequestKind.OTHER, page))
    app.router.add_get(page_path + "/", slash)
    app.router.add_get(page_path + "/{name}", guard(RequestKind.OTHER, asset))
    if publish:
        app.router.add_get(publish_path, publish_page)
        app.router.add_get(publish_path + "/", slash)
