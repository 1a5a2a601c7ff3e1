"""What the worker tells the WebRTC component with a WHEP offer (issue 37, finding 4; issue 52,
finding 4): the client's address (the component rate limits offers and caps sessions per address)
and, for signed playback, when the session ends and the token's digest (sessions capped per token);
and what of the component's refusal reaches the client (429/503 with Retry-After). The component is
stood for by an aiohttp app on a unix socket (issue 52, finding 8: never a loopback port); the real
one: components/webrtc whep_limits_test.go, whep_session_caps_test.go, and through the worker
tests/media/test_whep_offer_limits.py."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from streamops.media.ingest.webrtc.component import (
    CLIENT_HEADER,
    SESSION_EXPIRES_HEADER,
    TOKEN_HEADER,
    ComponentClient,
    WhepViewer,
)
from streamops.media.ingest.webrtc.routes import response


def test_the_offer_carries_the_client_and_the_session_end_and_a_refusal_its_retry_after():
    seen: list[dict[str, str]] = []

    async def whep(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        if len(seen) == 1:
            return web.Response(
                status=429, text="too many WHEP offers from this address\n", headers={"Retry-After": "1"}
            )
        return web.Response(
            status=201, text="v=0\r\n", content_type="application/sdp", headers={"Location": "/whep/ab"}
        )

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/whep", whep)
        runner = web.AppRunner(app)
        await runner.setup()
        with tempfile.TemporaryDirectory() as short:  # a socket's path is at most 107 bytes
            socket = Path(short) / "webrtc.sock"
            await web.UnixSite(runner, str(socket)).start()
            client = ComponentClient(socket)
            try:
                viewer = WhepViewer("203.0.113.9", 1_900_000_005, "0123456789abcdef0123456789abcdef")
                refused = await client.post_whep(b"v=0", "application/sdp", viewer)
                answered = await client.post_whep(b"v=0", "application/sdp")
            finally:
                await client.close()
                await runner.cleanup()
        assert refused.status == 429 and refused.headers == {"Retry-After": "1"}
        public = response(refused)
        assert public.status == 429 and public.headers["Retry-After"] == "1"
        assert public.headers["Access-Control-Allow-Origin"] == "*"
        assert answered.status == 201 and answered.headers == {} and answered.location == "/whep/ab"

    asyncio.run(run())
    first: dict[str, Any] = seen[0]
    assert first[CLIENT_HEADER] == "203.0.113.9" and first[SESSION_EXPIRES_HEADER] == "1900000005"
    assert first[TOKEN_HEADER] == "0123456789abcdef0123456789abcdef"
    assert not {CLIENT_HEADER, SESSION_EXPIRES_HEADER, TOKEN_HEADER} & set(seen[1]), "public playback, local caller"
