"""The ingest's player page (streamops.media.ingest.player): what it serves, with which headers, and the
options the page's script reads. The browser side (playback, offline/online, DVR) is the media and
browser tests' business; here: the HTTP face, the JSON injection and the pinned packages."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import json
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from devtools.versions import REPO
from streamops.media.ingest.player import PLAYER_PATH, PlayerOptions, add_player_routes
from streamops.media.ingest.player import page as player_page

OPTIONS = PlayerOptions(
    stream="cam1",
    hls_path="hls/cmaf/index.m3u8",
    dash_path="dash/manifest.mpd",
    low_latency=True,
    poster_path="screenshot.jpg",
)
OPTIONS_JSON = re.compile(r'<script type="application/json" id="streamops-player-options">(.*?)</script>', re.S)


def serve(routes: list[tuple[str, PlayerOptions]], check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    """An app with the player's routes at each (prefix, options), on 127.0.0.1:<free port>."""

    async def run() -> None:
        app = web.Application()
        for prefix, options in routes:
            add_player_routes(app, prefix, options)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def injected(page: str) -> dict[str, Any]:
    found = OPTIONS_JSON.search(page)
    assert found, "no options blob in the page"
    value: dict[str, Any] = json.loads(found.group(1))
    return value


@pytest.fixture
def vendored(tmp_path, monkeypatch):
    """hls.js, dash.js and three.js as `make player` leaves them (stand-ins: the tests do not need npm)."""
    files = {}
    for name in ("hls.min.js", "dash.all.min.js", "three.module.js", "three.core.js", "VERSIONS"):
        path = tmp_path / name
        path.write_text(f"/* {name} */ var x = 1;\n")
        monkeypatch.setitem(
            player_page.ASSETS, name, player_page.Asset(path, player_page.ASSETS[name].content_type, True)
        )
        files[name] = path
    return files


@pytest.fixture
def not_vendored(tmp_path, monkeypatch):
    """`make player` has not run."""
    for name, asset in list(player_page.ASSETS.items()):
        if asset.vendored:
            monkeypatch.setitem(
                player_page.ASSETS, name, player_page.Asset(tmp_path / "absent" / name, asset.content_type, True)
            )


def test_page_headers_markup_and_options(vendored):
    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get(PLAYER_PATH)
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        # Embeddable in an iframe on any origin.
        assert "X-Frame-Options" not in response.headers
        assert "Content-Security-Policy" not in response.headers
        page = await response.text()
        assert "<title>cam1</title>" in page
        video = re.search(r"<video [^>]*>", page)
        assert video and all(a in video.group(0) for a in ("muted", "autoplay", "playsinline", "controls"))
        options = injected(page)
        digest = hashlib.sha256(vendored["hls.min.js"].read_bytes()).hexdigest()[:12]
        assert options == {
            "stream": "cam1",
            "hls": "hls/cmaf/index.m3u8",
            "dash": "dash/manifest.mpd",
            "lowLatency": True,
            "poster": "screenshot.jpg",
            "scripts": {
                "hls": f"player/hls.min.js?v={digest}",
                "dash": options["scripts"]["dash"],
            },
        }
        assert re.fullmatch(r"player/dash\.all\.min\.js\?v=[0-9a-f]{12}", options["scripts"]["dash"])
        script = re.search(r'<script src="([^"]+)"></script>', page)
        assert script and re.fullmatch(r"player/player\.js\?v=[0-9a-f]{12}", html.unescape(script.group(1)))

    serve([("", OPTIONS)], check)


def test_assets_content_types_and_caching(vendored):
    async def check(client: TestClient[Any, Any]) -> None:
        options = injected(await (await client.get(PLAYER_PATH)).text())
        for url in (options["scripts"]["hls"], options["scripts"]["dash"]):
            response = await client.get(urljoin(PLAYER_PATH, url))
            assert response.status == 200, url
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
            # Versioned by content: kept for a year.
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert "var x = 1" in await response.text()
        # Without the version (or an old one): revalidated.
        response = await client.get(f"{PLAYER_PATH}/hls.min.js?v=000000000000")
        assert response.headers["Cache-Control"] == "no-cache"
        own = await client.get(f"{PLAYER_PATH}/player.js")
        assert own.status == 200
        assert own.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert "streamopsPlayer" in await own.text()
        versions = await client.get(f"{PLAYER_PATH}/VERSIONS")
        assert versions.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert (await client.get(f"{PLAYER_PATH}/nothing.js")).status == 404
        assert (await client.get(f"{PLAYER_PATH}/..%2Fpage.py")).status == 404

    serve([("", OPTIONS)], check)


def test_gzipped_copy_is_sent_to_browsers_that_accept_it(vendored):
    original = vendored["hls.min.js"].read_bytes()
    vendored["hls.min.js"].with_name("hls.min.js.gz").write_bytes(gzip.compress(original))

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get(f"{PLAYER_PATH}/hls.min.js", headers={"Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert await response.read() == original  # the client inflates it
        plain = await client.get(f"{PLAYER_PATH}/hls.min.js", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert await plain.read() == original

    serve([("", OPTIONS)], check)


def test_json_injection_cannot_close_the_script(vendored):
    hostile = 'cam</script><script>alert("x")</script><!-- & \u2028 é'
    options = PlayerOptions(hostile, "hls/cmaf/index.m3u8", None, False, None)

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get(PLAYER_PATH)).text()
        # Only the page's own two scripts end: the blob and player.js.
        assert page.count("</script") == 2
        assert "<!--" not in page
        assert injected(page)["stream"] == hostile
        assert f"<title>{html.escape(hostile)}</title>" in page

    serve([("", options)], check)
    assert player_page.json_for_script({"a": "</script>"}) == '{"a":"\\u003c/script\\u003e"}'


def test_prefixes_and_relative_urls(vendored):
    async def check(client: TestClient[Any, Any]) -> None:
        for prefix in ("", "/live/cam1"):
            page_url = f"{prefix}{PLAYER_PATH}"
            response = await client.get(page_url + "?format=dash")
            assert response.status == 200, page_url
            options = injected(await response.text())
            # Relative to {prefix}/player (no trailing slash): the media beside it, the scripts under it.
            assert urljoin(page_url, options["hls"]) == f"{prefix}/hls/cmaf/index.m3u8"
            assert urljoin(page_url, options["dash"]) == f"{prefix}/dash/manifest.mpd"
            assert urljoin(page_url, options["poster"]) == f"{prefix}/screenshot.jpg"
            hls_js = urljoin(page_url, options["scripts"]["hls"])
            assert hls_js.startswith(f"{prefix}/player/hls.min.js?v=")
            assert (await client.get(hls_js)).status == 200
            # With a trailing slash the relative URLs would miss: sent to the page, query kept.
            slash = await client.get(page_url + "/?format=dash", allow_redirects=False)
            assert slash.status == 302
            assert urljoin(page_url + "/", slash.headers["Location"]) == page_url + "?format=dash"
        assert (await client.get("/live/player")).status == 404

    serve([("", OPTIONS), ("/live/cam1", OPTIONS)], check)


def test_no_dash_no_poster():
    options = PlayerOptions("cam1", "hls/ts/index.m3u8", None, False, None)

    async def check(client: TestClient[Any, Any]) -> None:
        blob = injected(await (await client.get(PLAYER_PATH)).text())
        assert blob["dash"] is None
        assert blob["poster"] is None
        assert blob["lowLatency"] is False
        assert blob["hls"] == "hls/ts/index.m3u8"

    serve([("", options)], check)


def test_without_make_player_the_page_renders_and_the_assets_say_what_to_run(not_vendored):
    async def check(client: TestClient[Any, Any]) -> None:
        page = await client.get(PLAYER_PATH)
        assert page.status == 200
        assert injected(await page.text())["scripts"] == {"hls": None, "dash": None}
        for name in ("hls.min.js", "dash.all.min.js", "hls.js.LICENSE"):
            response = await client.get(f"{PLAYER_PATH}/{name}")
            assert response.status == 500
            assert "make player" in await response.text()
            assert response.headers["Cache-Control"] == "no-cache"
        assert (await client.get(f"{PLAYER_PATH}/player.js")).status == 200  # in the package itself

    serve([("", OPTIONS)], check)


@pytest.mark.parametrize("prefix", ["live", "/live/", "/"])
def test_prefix_must_be_a_path_without_trailing_slash(prefix):
    with pytest.raises(ValueError, match="prefix"):
        add_player_routes(web.Application(), prefix, OPTIONS)


def test_page_script_is_plain_and_leaves_the_embedding_page_alone():
    script = (REPO / "operator/streamops/media/ingest/player/player.js").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    # The only use of the parent: a message with the state (what embedding pages listen for).
    code = code.replace("window.parent !== window", "").replace("window.parent.postMessage(", "")
    for reference in ("window.top", "window.parent", "parent.", "top.location", "document.domain"):
        assert reference not in code
    assert "lowLatencyMode" in script and "liveSyncDuration:" not in script  # PART-HOLD-BACK decides
    node = shutil.which("node")
    if node:
        subprocess.run([node, "--check", str(REPO / "operator/streamops/media/ingest/player/player.js")], check=True)


def test_player_packages_are_pinned_exactly():
    package = json.loads((REPO / "player/package.json").read_text())
    lock = json.loads((REPO / "player/package-lock.json").read_text())
    assert set(package["dependencies"]) == {"hls.js", "dashjs", "three"}
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} {version}: an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert package["dependencies"]["hls.js"].startswith("1.")


def test_a_projection_loads_the_360_view_and_three_js_from_the_worker(vendored):
    """vr360, vr180, vr360tb: the page names the projection and its two scripts, served by the
    worker (no CDN), versioned like every asset. A regular page has neither
    (test_page_headers_markup_and_options: its options are exactly what they were)."""
    options = PlayerOptions("cam1", "hls/cmaf/index.m3u8", None, False, None, projection="vr180")

    async def check(client: TestClient[Any, Any]) -> None:
        blob = injected(await (await client.get(PLAYER_PATH)).text())
        assert blob["projection"] == "vr180"
        digest = hashlib.sha256(vendored["three.module.js"].read_bytes()).hexdigest()[:12]
        assert blob["scripts"]["three"] == f"player/three.module.js?v={digest}"
        assert re.fullmatch(r"player/projection\.js\?v=[0-9a-f]{12}", blob["scripts"]["projection"])
        for url in (blob["scripts"]["three"], blob["scripts"]["projection"], f"{PLAYER_PATH}/three.core.js"):
            response = await client.get(urljoin(PLAYER_PATH, url))
            assert response.status == 200, url
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"  # a module needs a JS type

    serve([("", options)], check)


def test_without_make_player_a_projection_page_still_plays_flat(not_vendored):
    options = PlayerOptions("cam1", "hls/cmaf/index.m3u8", None, False, None, projection="vr360")

    async def check(client: TestClient[Any, Any]) -> None:
        blob = injected(await (await client.get(PLAYER_PATH)).text())
        assert blob["projection"] == "vr360" and blob["scripts"]["three"] is None  # player.js says what to run
        assert (await client.get(f"{PLAYER_PATH}/three.module.js")).status == 500

    serve([("", options)], check)


def test_the_360_view_script_is_plain_and_loads_three_js_from_the_page_only():
    path = REPO / "operator/streamops/media/ingest/player/projection.js"
    script = path.read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
    assert not re.search(r"""['"`](https?:)?//""", code), "no URL of another origin"
    assert code.count("import(") == 1 and "import(new URL(threeUrl, location.href).href)" in code
    for reference in ("window.top", "window.parent", "document.domain"):
        assert reference not in code
    node = shutil.which("node")
    if node:
        subprocess.run([node, "--check", str(path)], check=True)


def test_three_js_imports_its_core_by_a_versioned_url():
    """`make player` gives three.module.js's import of ./three.core.js the core's ?v=: cached for a
    year like the other assets, and a new core is a new URL."""
    module = player_page.ASSETS["three.module.js"].path.read_text()
    version = player_page.asset_version(player_page.ASSETS["three.core.js"].path)
    imports = re.findall(r"from '(\./three\.core\.js[^']*)'", module)
    assert imports and set(imports) == {f"./three.core.js?v={version}"}


def test_package_data_ships_the_page_and_the_assets():
    pyproject = (REPO / "operator/pyproject.toml").read_text()
    data = re.search(r'"streamops\.media\.ingest\.player" = \[(.*?)\]', pyproject)
    assert data
    patterns = {p.strip().strip('"') for p in data.group(1).split(",")}
    assert {"*.html", "*.js", "assets/*"} <= patterns
