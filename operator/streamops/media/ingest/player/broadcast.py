"""A Broadcast's page and state document under each of its streams' prefixes (docs/design/broadcasts.md):
GET {prefix}/broadcasts/<name>/player (broadcast.html: the page plays whichever stream is on air and
follows a change without a reload) and {prefix}/broadcasts/<name>/state.json (the broadcast as the
operator last sent it in PlayerSettings.broadcasts: phase, the stream on air, each stream's playback
base). Both through the stream's playback gate: a signed stream's token opens its broadcasts' page,
and the page carries the other streams' tokens in its URL's fragment, never sent to a server. A
broadcast this ingest was not told of is 404."""

from __future__ import annotations

import html
from collections.abc import Callable

from aiohttp import web

from streamops.contract.cache_policy import Kind
from streamops.contract.ingest import BROADCAST_STATE, BROADCASTS_PATH, BroadcastView, PlayerSettings
from streamops.media.ingest.cache_headers import CACHE_KIND
from streamops.media.ingest.playback_access import Guard, no_guard
from streamops.media.ingest.player.page import HERE, HTML, NO_CACHE, THEME, asset_url, json_for_script
from streamops.media.ingest.viewers import RequestKind

BROADCAST_TEMPLATE = HERE / "broadcast.html"
UP = "../../"  # from {prefix}/broadcasts/<name>/ to {prefix}/


def state_document(view: BroadcastView) -> dict[str, object]:
    """What the page polls: the view as JSON, with no token (the page adds its own)."""
    return view.model_dump(mode="json", by_alias=True)


def render_broadcast_page(view: BroadcastView) -> str:
    config = {
        "broadcast": view.name,
        "state": BROADCAST_STATE,
        "initial": state_document(view),
        "scripts": {"hls": (UP + url) if (url := asset_url("hls.min.js")) else None},
    }
    script = asset_url("broadcast.js") or "player/broadcast.js"
    return (
        BROADCAST_TEMPLATE.read_text()
        .replace("{{THEME}}", THEME.read_text())
        .replace("{{TITLE}}", html.escape(view.title or view.name))
        .replace("{{SCRIPT}}", html.escape(UP + script))
        .replace("{{OPTIONS}}", json_for_script(config))
    )


def add_broadcast_routes(
    app: web.Application, prefix: str, settings: Callable[[], PlayerSettings], guard: Guard = no_guard
) -> None:
    """GET {prefix}/broadcasts/{name}/player and .../state.json, answered from `settings()` at each request."""

    def view(request: web.Request) -> BroadcastView:
        name = request.match_info["broadcast"]
        found = next((b for b in settings().broadcasts or [] if b.name == name), None)
        if found is None:
            raise web.HTTPNotFound(text=f"no broadcast {name!r} on this stream\n")
        return found

    async def page(request: web.Request) -> web.Response:
        body = render_broadcast_page(view(request)).encode()
        return web.Response(body=body, headers={"Content-Type": HTML, "Cache-Control": NO_CACHE})

    async def state(request: web.Request) -> web.Response:
        response = web.json_response(state_document(view(request)))
        response[CACHE_KIND] = Kind.BROADCAST_STATE
        return response

    base = f"{prefix}{BROADCASTS_PATH}/{{broadcast}}"
    app.router.add_get(base + "/player", guard(RequestKind.OTHER, page))
    app.router.add_get(f"{base}/{BROADCAST_STATE}", guard(RequestKind.OTHER, state))
