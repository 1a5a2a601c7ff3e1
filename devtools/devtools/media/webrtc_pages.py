"""The harness's WHIP/WHEP page: a <video> and webrtc_client.js, served on 127.0.0.1 with the
component's control API behind the same origin (the product's own publish and player pages come
later, issue 26).

    with WebRtcPages(component.control_url, netns=ns) as pages:
        publisher = browser.open(pages.url)
        publisher.evaluate(publish_expression(pages.whip_url))

Same origin, because the component's control API sends no CORS headers and an application/sdp POST
is not a "simple" request: from another origin Chromium would send a preflight OPTIONS, which the
component answers 405. The proxy here stands where the Python ingest worker will (it proxies
`POST /whip`, `POST /whep` and the DELETEs of the session resources in the product).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web

from devtools.netns import entered
from devtools.ports import LOOPBACK, free_port
from devtools.processes import Lifecycle

CLIENT_JS = Path(__file__).with_name("webrtc_client.js").read_text()

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>streamops WebRTC harness</title>
<style>body { margin: 0; background: #000 } video { width: 640px; height: 360px }</style>
<video muted autoplay playsinline></video>
<script src="webrtc_client.js"></script>
"""

# Headers of the component's answers that the page needs (the rest is hop-by-hop or irrelevant).
_PASSED_HEADERS = ("Content-Type", "Location", "Allow")


def publish_expression(endpoint: str) -> str:
    """JavaScript: publish the page's camera and microphone over WHIP (the exchange as a dict)."""
    return f"streamopsWebRtc.publish({json.dumps(endpoint)})"


def play_expression(endpoint: str, video: str = "video", clock_layout: dict[str, int] | None = None) -> str:
    """JavaScript: play over WHEP into the page's <video> (the exchange as a dict). clock_layout
    (devtools.media.clock_source.strip_layout(), after install_clock_strip): firstFrame then
    carries the clock burned into the first picture shown."""
    return f"streamopsWebRtc.play({json.dumps(endpoint)}, {json.dumps(video)}, {json.dumps(clock_layout)})"


VIDEO = "document.querySelector('video')"
CONNECTED = "streamopsWebRtc.connectionState === 'connected'"
# Truthy once the <video> shows the stream: a picture with a size, time moving.
PLAYING = f"(() => {{ const v = {VIDEO}; return v.videoWidth > 0 && v.currentTime > 0 && v.readyState >= 2; }})()"


class WebRtcPages(Lifecycle):
    """An aiohttp server in a thread of its own (in `netns` when given: its listening socket and its
    connections to the component are made there), on 127.0.0.1:`port`."""

    def __init__(self, control_url: str, *, netns: str | None = None, port: int | None = None) -> None:
        self.control_url = control_url.rstrip("/")
        self.netns = netns
        self.port = port or free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    @property
    def whip_url(self) -> str:
        return f"{self.url}whip"

    @property
    def whep_url(self) -> str:
        return f"{self.url}whep"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="webrtc-pages", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise TimeoutError("the WebRTC page server did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"the WebRTC page server failed to start: {self._error!r}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        with entered(self.netns) if self.netns else contextlib.nullcontext():
            runner = web.AppRunner(self._app(), access_log=None)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.TCPSite(runner, LOOPBACK, self.port).start())
                self._client = loop.run_until_complete(_client_session())
            except BaseException as e:
                self._error = e
                self._started.set()
                loop.run_until_complete(runner.cleanup())
                loop.close()
                return
            self._started.set()
            loop.run_forever()
            loop.run_until_complete(self._client.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/webrtc_client.js", self._script)
        app.router.add_post("/whip", self._proxy)
        app.router.add_post("/whep", self._proxy)
        app.router.add_delete("/whip/{id}", self._proxy)
        app.router.add_delete("/whep/{id}", self._proxy)
        return app

    async def _page(self, _request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def _script(self, _request: web.Request) -> web.Response:
        return web.Response(text=CLIENT_JS, content_type="text/javascript")

    async def _proxy(self, request: web.Request) -> web.Response:
        assert self._client is not None
        headers = {"Content-Type": request.headers["Content-Type"]} if "Content-Type" in request.headers else {}
        async with self._client.request(
            request.method, self.control_url + request.path, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            passed = {k: v for k, v in answer.headers.items() if k in _PASSED_HEADERS}
            return web.Response(status=answer.status, body=body, headers=passed)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


async def _client_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(trust_env=False)  # made on the loop; never an environment proxy


def exchange_summary(result: dict[str, Any]) -> str:
    """One line for assertion messages: status, body head, location."""
    return f"{result.get('status')} {str(result.get('body', ''))[:200]!r} location={result.get('location')}"
