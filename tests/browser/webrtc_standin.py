"""A stand-in for the ingest worker's WebRTC face, for the product's pages against the component alone:
the player and publish pages (streamops.media.ingest.player) under a path prefix, and `POST
<prefix>/whip` (the bearer token checked against one key: 401), `POST <prefix>/whep` and the DELETEs
of their session resources proxied to streamops-webrtc's control API, its `Location: /whip/<id>`
mapped under the prefix as the worker maps it. What the worker adds (403, 409, the one publisher per
key, FFmpeg reading WHIP) is not here: tests/browser/test_webrtc_ingest.py runs the real worker."""

from __future__ import annotations

import hmac

from aiohttp import web
from devtools.media.webrtc_pages import WebRtcPages
from streamops.media.ingest.player import PlayerOptions, add_player_routes

KEY = "standin-key-0123456789"
PREFIX = "/live/cam"


class ProductPages(WebRtcPages):
    """The product's pages at PREFIX on 127.0.0.1:`port` (in `netns`), WHIP/WHEP proxied to the
    component. `whep_status`: answer every WHEP POST with it instead (404: "not live")."""

    def __init__(
        self,
        control_url: str,
        *,
        netns: str | None = None,
        options: PlayerOptions | None = None,
        key: str = KEY,
        prefix: str = PREFIX,
    ) -> None:
        super().__init__(control_url, netns=netns)
        self.options = options or PlayerOptions("cam", None, None, False, None, whep=True, whip=True)
        self.key = key
        self.prefix = prefix
        self.whep_status: int | None = None
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of the WHIP/WHEP face

    @property
    def player_url(self) -> str:
        return f"{self.url.rstrip('/')}{self.prefix}/player"

    @property
    def publish_url(self) -> str:
        return f"{self.url.rstrip('/')}{self.prefix}/publish"

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        add_player_routes(app, self.prefix, self.options)
        app.router.add_post(self.prefix + "/whip", self._whip)
        app.router.add_delete(self.prefix + "/whip/{id}", self._whip)
        app.router.add_post(self.prefix + "/whep", self._whep)
        app.router.add_delete(self.prefix + "/whep/{id}", self._forward)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        response = await handler(request)
        if "/whip" in request.path or "/whep" in request.path:
            self.requests.append((request.method, request.path, response.status))
        return response

    async def _whip(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.key.encode()):
            return web.Response(status=401, text="the bearer token is not this stream's key\n")
        return await self._forward(request)

    async def _whep(self, request: web.Request) -> web.Response:
        if self.whep_status is not None:
            return web.Response(status=self.whep_status, text="the stream is not live\n")
        return await self._forward(request)

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        path = request.path.removeprefix(self.prefix)
        headers = {"Content-Type": request.headers["Content-Type"]} if "Content-Type" in request.headers else {}
        async with self._client.request(
            request.method, self.control_url + path, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            passed = {k: v for k, v in answer.headers.items() if k in ("Content-Type", "Allow")}
            if location := answer.headers.get("Location"):
                passed["Location"] = self.prefix + location  # /whip/<id> -> <prefix>/whip/<id>
            return web.Response(status=answer.status, body=body, headers=passed)
