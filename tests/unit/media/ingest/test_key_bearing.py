"""WHIP and the publish page carry the stream key: served over HTTPS only (X-Forwarded-Proto https
from a trusted proxy, the route's TLS), unless the admin allows plain HTTP (issue 37, finding 12:
WHIP's bearer and the publish page went over http:// on NodePort and LoadBalancer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.key_bearing import REFUSAL
from streamops.media.ingest.worker import IngestWorker

KEY = "k" * 24


def serve(tmp_path: Path, check: Callable[[TestClient[Any, Any]], Awaitable[None]], **config: Any) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    key = tmp_path / "key"
    key.write_text(KEY)
    base = {
        "stream": "cam",
        "source": {"push": {"protocols": ["rtmp", "whip"]}},
        "mediaDir": str(tmp_path / "media"),
        "streamKeyFile": str(key),
        "pathPrefix": "/streams/ns/cam",
        "webrtc": {},
        "ports": {"webrtcUdp": 0, "webrtcTcp": 0},
    }
    worker = IngestWorker(IngestConfig.model_validate({**base, **config}))

    async def run() -> None:
        async with TestClient(TestServer(worker.apps()[0], host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


async def answer(client: TestClient[Any, Any], method: str, path: str, **headers: str) -> tuple[int, str]:
    response = await client.request(method, path, data=b"v=0" if method == "POST" else None, headers=headers)
    return response.status, await response.text()


def test_whip_and_the_publish_page_are_refused_over_plain_http(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        bearer = {"Authorization": f"Bearer {KEY}"}
        for base in ("", "/streams/ns/cam"):
            for method, path, headers in (
                ("POST", "/whip", bearer),
                ("DELETE", "/whip/abc123", bearer),
                ("OPTIONS", "/whip", bearer),  # with the key: it would answer TURN credentials
                ("GET", "/publish", {}),
            ):
                status, text = await answer(client, method, base + path, **headers)
                assert (status, text) == (403, REFUSAL + "\n"), (method, base + path)
            # A client (not a trusted proxy) saying https is not believed.
            status, _ = await answer(client, "GET", base + "/publish", **{"X-Forwarded-Proto": "https"})
            assert status == 403
            # The browser's CORS preflight carries nothing: answered.
            assert (await answer(client, "OPTIONS", base + "/whip"))[0] == 204
            # Playback is not key-bearing.
            assert (await answer(client, "GET", base + "/player"))[0] == 200

    serve(tmp_path, check)


def test_over_https_from_a_trusted_proxy_or_when_allowed_they_are_served(tmp_path: Path) -> None:
    async def behind_tls(client: TestClient[Any, Any]) -> None:
        https = {"X-Forwarded-Proto": "https"}
        assert (await answer(client, "GET", "/publish", **https))[0] == 200
        # A client's own value sits left of what the proxy saw: the last one counts.
        assert (await answer(client, "GET", "/publish", **{"X-Forwarded-Proto": "https, http"}))[0] == 403
        status, _ = await answer(client, "POST", "/whip", **https)  # no key: WHIP's own 401
        assert status == 401

    serve(tmp_path / "a", behind_tls, trustedProxies=["127.0.0.1/32"])

    async def allowed(client: TestClient[Any, Any]) -> None:
        assert (await answer(client, "GET", "/publish"))[0] == 200
        assert (await answer(client, "POST", "/whip"))[0] == 401

    serve(tmp_path / "b", allowed, publishOverHttp=True)
