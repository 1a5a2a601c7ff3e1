"""The HTTP face of the WebRTC side of the ingest's pages (streamops.media.ingest.player), without a
browser: what the player page's options say with and without WHEP, the publish page's route, headers
and options, under the path prefix too. The pages in Chromium: test_webrtc_pages.py (against the
component) and test_webrtc_ingest.py (against the worker)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from devtools.versions import REPO
from streamops.media.ingest.player import PlayerOptions, add_player_routes
from streamops.media.ingest.player.page import IceServer

PLAYER_DIR = REPO / "operator/streamops/media/ingest/player"
BASE = PlayerOptions("cam1", "hls/cmaf/index.m3u8", None, True, "screenshot.jpg")
WEBRTC = PlayerOptions(
    "cam1",
    "hls/cmaf/index.m3u8",
    None,
    True,
    "screenshot.jpg",
    whep=True,
    whip=True,
    ice_servers=(IceServer(("turn:turn.example.net:3478",), "user", "secret"),),
)


def serve(routes: list[tuple[str, PlayerOptions]], check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        app = web.Application()
        for prefix, options in routes:
            add_player_routes(app, prefix, options)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def blob(page: str, name: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S)
    assert found, f"no {name} in the page"
    value: dict[str, Any] = json.loads(found.group(1))
    return value


def test_player_options_name_whep_only_when_the_stream_serves_it():
    async def check(client: TestClient[Any, Any]) -> None:
        plain = blob(await (await client.get("/player")).text(), "streamops-player-options")
        assert "whep" not in plain and "webrtc" not in plain["scripts"] and "iceServers" not in plain
        for prefix in ("/live/cam1",):
            page = await (await client.get(f"{prefix}/player")).text()
            options = blob(page, "streamops-player-options")
            assert urljoin(f"{prefix}/player", options["whep"]) == f"{prefix}/whep"
            webrtc_js = urljoin(f"{prefix}/player", options["scripts"]["webrtc"])
            assert webrtc_js.startswith(f"{prefix}/player/webrtc.js?v=")
            response = await client.get(webrtc_js)
            assert response.status == 200 and "streamopsRtc" in await response.text()
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert options["iceServers"] == [
                {"urls": ["turn:turn.example.net:3478"], "username": "user", "credential": "secret"}
            ]
            assert page.count("</script") == 2  # the blob and player.js: webrtc.js is loaded when needed

    serve([("", BASE), ("/live/cam1", WEBRTC)], check)


def test_publish_page_route_headers_and_options():
    async def check(client: TestClient[Any, Any]) -> None:
        for prefix, options in (("", BASE), ("/live/cam1", WEBRTC)):
            response = await client.get(f"{prefix}/publish")
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            # The key is typed here: never cached, never framed elsewhere, no referrer
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert response.headers["Referrer-Policy"] == "no-referrer"
            page = await response.text()
            assert "<title>Publish cam1</title>" in page
            config = blob(page, "streamops-publish-options")
            if options.whip:
                assert urljoin(f"{prefix}/publish", config["whip"]) == f"{prefix}/whip"
            else:
                assert config["whip"] is None
            assert urljoin(f"{prefix}/publish", config["player"]) == f"{prefix}/player"
            # Its scripts are the player's assets, under {prefix}/player/, versioned
            scripts = re.findall(r'<script src="([^"]+)"></script>', page)
            assert [re.sub(r"\?v=[0-9a-f]{12}$", "", s) for s in scripts] == ["player/webrtc.js", "player/publish.js"]
            for script in scripts:
                assert (await client.get(urljoin(f"{prefix}/publish", script))).status == 200
            # The key field has no name (a form submitted without the script sends nothing)
            key = re.search(r'<input id="key"[^>]*>', page, re.S)
            assert key and "name=" not in key.group(0) and 'type="password"' in key.group(0)
            slash = await client.get(f"{prefix}/publish/", allow_redirects=False)
            assert slash.status == 302
            assert urljoin(f"{prefix}/publish/", slash.headers["Location"]) == f"{prefix}/publish"
        # the player page keeps its headers: embeddable anywhere
        player = await client.get("/player")
        assert "X-Frame-Options" not in player.headers

    serve([("", BASE), ("/live/cam1", WEBRTC)], check)


def test_page_scripts_parse_and_keep_the_key_out_of_urls():
    publish = (PLAYER_DIR / "publish.js").read_text()
    code = "\n".join(line for line in publish.splitlines() if not line.lstrip().startswith("//"))
    # the key goes to the Authorization header and (when asked) sessionStorage, nowhere else
    assert "localStorage" not in code and "searchParams" not in code and "location.search" not in code
    assert "Authorization: `Bearer ${key}`" in code
    node = shutil.which("node")
    if node:
        for name in ("player.js", "webrtc.js", "publish.js"):
            subprocess.run([node, "--check", str(PLAYER_DIR / name)], check=True)
