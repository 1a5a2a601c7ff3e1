"""The player page: GET {prefix}/player (player.html with the stream's options as a JSON blob) and
its scripts under {prefix}/player/: player.js, and hls.js and dash.js as `make player` copies them
into assets/ (pinned in player/package-lock.json; no CDN). Without them the page still renders,
saying what is missing, and their routes answer 500 with the command to run. Embeddable in an
iframe on any origin: no frame-blocking headers. Why: docs/design/low-latency.md ("The player page").
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from streamops.contract.ingest import PLAYER_PAGE

PLAYER_PATH = PLAYER_PAGE  # the contract's: the operator builds status.playback.playerUrl from it

HERE = Path(__file__).parent
ASSETS_DIR = HERE / "assets"  # filled by `make player`
PAGE_TEMPLATE = HERE / "player.html"

JS = "text/javascript; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
# Asset URLs carry ?v=<content hash>: a cached copy is never stale, so it may be kept for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"  # the page (and an asset asked for without its version): revalidate each time
MISSING = (
    "{name} is not in this worker's package: run `make player` (npm ci of player/package-lock.json, "
    "which copies hls.js and dash.js into operator/streamops/media/ingest/player/assets/) before installing "
    "streamops or building its images.\n"
)


@dataclass(frozen=True)
class PlayerOptions:
    stream: str  # the LiveStream's name: the page title
    hls_path: str | None  # relative to the page URL, e.g. "hls/cmaf/index.m3u8" (None: no HLS)
    dash_path: str | None  # relative, e.g. "dash/manifest.mpd" (None: no DASH)
    low_latency: bool  # the HLS playlist is LL-HLS: hls.js lowLatencyMode on
    poster_path: str | None  # relative, e.g. "screenshot.jpg"


@dataclass(frozen=True)
class Asset:
    path: Path
    content_type: str
    vendored: bool  # copied from npm by `make player` (absent until it runs)


ASSETS: dict[str, Asset] = {
    "player.js": Asset(HERE / "player.js", JS, vendored=False),
    "hls.min.js": Asset(ASSETS_DIR / "hls.min.js", JS, vendored=True),
    "dash.all.min.js": Asset(ASSETS_DIR / "dash.all.min.js", JS, vendored=True),
    # The licences the minified builds point at (dash.all.min.js names its third-party notices file).
    "hls.js.LICENSE": Asset(ASSETS_DIR / "hls.js.LICENSE", TEXT, vendored=True),
    "dashjs.LICENSE.md": Asset(ASSETS_DIR / "dashjs.LICENSE.md", TEXT, vendored=True),
    "dash.all.min.js.LICENSE.txt": Asset(ASSETS_DIR / "dash.all.min.js.LICENSE.txt", TEXT, vendored=True),
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
    config = {
        "stream": options.stream,
        "hls": options.hls_path,
        "dash": options.dash_path,
        "lowLatency": options.low_latency,
        "poster": options.poster_path,
        "scripts": {"hls": asset_url("hls.min.js"), "dash": asset_url("dash.all.min.js")},
    }
    return (
        PAGE_TEMPLATE.read_text()
        .replace("{{TITLE}}", html.escape(options.stream))
        .replace("{{SCRIPT}}", html.escape(asset_url("player.js") or "player/player.js"))
        .replace("{{OPTIONS}}", json_for_script(config))
    )


def add_player_routes(app: web.Application, prefix: str, options: PlayerOptions) -> None:
    """GET {prefix}/player: the page; {prefix}/player/<asset>: hls.min.js, dash.all.min.js, the page's own JS.

    `prefix` is "" or a path without a trailing slash ("/live/cam1"). Relative URLs in `options`
    resolve against {prefix}/player, i.e. from {prefix}/.
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"path prefix {prefix!r}: empty, or starting with / and not ending with one")
    page_path = prefix + PLAYER_PATH

    async def page(_: web.Request) -> web.Response:
        return web.Response(
            body=render_page(options).encode(), headers={"Content-Type": HTML, "Cache-Control": NO_CACHE}
        )

    async def slash(request: web.Request) -> web.Response:
        # {prefix}/player/ would resolve the page's relative URLs under player/: send it to the page.
        query = f"?{request.query_string}" if request.query_string else ""
        raise web.HTTPFound(f"../player{query}")

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
        cache = IMMUTABLE if request.query.get("v") == version else NO_CACHE
        return web.FileResponse(known.path, headers={"Content-Type": known.content_type, "Cache-Control": cache})

    app.router.add_get(page_path, page)
    app.router.add_get(page_path + "/", slash)
    app.router.add_get(page_path + "/{name}", asset)
