"""The ingest's POST /overlays (streamops.media.ingest.overlay_switch) on its route alone, without
Chromium or FFmpeg: its answers, switch.json and the overlays it reports on. On the worker's faces
(/status, the credential): test_worker.py; the renderer's reading of switch.json:
tests/unit/media/overlay/test_switch.py; a real renderer and ingest: tests/media/test_overlays.py."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from streamops.contract.ingest import IngestConfig
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_FILE, SWITCH_PATH, OverlaySwitch, switch_token
from streamops.contract.stamped_token import MAX_AGE_SECONDS
from streamops.media.ingest.overlay_switch import SwitchedOverlays, add_switch_route
from streamops.media.overlay.switch import read_switch, write_switch

LADDER = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}  # overlays need one
OVERLAYS = [
    {"name": "logo", "x": 80, "y": 0, "width": 20, "height": 10},
    {"name": "score", "x": 5, "y": 5, "width": 40, "height": 20},
]
log = logging.getLogger("test.overlay_switch")


def ingest_config(tmp_path: Path, overlays: bool = True) -> IngestConfig:
    config: dict[str, Any] = {"stream": "cam", "source": {"push": {"protocols": ["rtmp"]}}}
    if overlays:
        config |= {"transcoding": LADDER, "overlays": OVERLAYS, "overlayDir": str(tmp_path / "overlays")}
    return IngestConfig.model_validate(config)


def with_route(
    config: IngestConfig,
    check: Callable[[SwitchedOverlays, TestClient[Any, Any]], Awaitable[None]],
    key: bytes | None = None,
) -> None:
    """`check` against POST /overlays of a stream with the stream key `key` (None: a pull stream's)."""
    overlays = SwitchedOverlays(config, log)
    app = web.Application()
    add_switch_route(app, config, lambda: key, overlays)

    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(overlays, client)

    asyncio.run(run())


def test_post_overlays_writes_switch_json(tmp_path):
    directory = tmp_path / "overlays"

    async def check(overlays: SwitchedOverlays, client: TestClient[Any, Any]) -> None:
        assert overlays.enabled is None, "no switch yet"
        response = await client.post(SWITCH_PATH, data=json.dumps({"enabled": ["score"]}))
        assert response.status == 204, await response.text()
        assert json.loads((directory / SWITCH_FILE).read_text()) == {"enabled": ["score"]}
        assert overlays.enabled == ["score"]
        assert (await client.post(SWITCH_PATH, data='{"enabled": []}')).status == 204
        assert read_switch(directory) == OverlaySwitch(enabled=[])
        assert overlays.enabled == []
        assert [p.name for p in directory.iterdir()] == [SWITCH_FILE], "no temporary file left"

    with_route(ingest_config(tmp_path), check)


def test_post_overlays_refuses_what_is_not_a_switch_of_its_overlays(tmp_path):
    directory = tmp_path / "overlays"

    async def check(overlays: SwitchedOverlays, client: TestClient[Any, Any]) -> None:
        async def answer(body: str) -> tuple[int, str]:
            response = await client.post(SWITCH_PATH, data=body)
            return response.status, await response.text()

        assert await answer('{"enabled": ["scoreboard"]}') == (
            400,
            "no such overlay: scoreboard (this ingest has logo, score)",
        )
        assert await answer('{"enabled": ["score", "score"]}') == (400, "an overlay is named twice")
        status, text = await answer('{"enabled": "score"}')
        assert status == 400 and text.startswith("not an OverlaySwitch: enabled:"), text
        status, text = await answer('{"enabled": [], "disabled": ["logo"]}')
        assert status == 400 and "disabled" in text, "unknown fields are refused, as in every contract model"
        assert (await answer("not json"))[0] == 400
        assert not (directory / SWITCH_FILE).exists() and overlays.enabled is None

    with_route(ingest_config(tmp_path), check)


def test_post_overlays_without_overlays_is_404(tmp_path):
    async def check(overlays: SwitchedOverlays, client: TestClient[Any, Any]) -> None:
        response = await client.post(SWITCH_PATH, data='{"enabled": []}')
        assert (response.status, await response.text()) == (404, "this ingest has no overlays")
        assert overlays.enabled is None

    with_route(ingest_config(tmp_path, overlays=False), check)


def test_a_restarted_ingest_reads_the_switch_back(tmp_path):
    write_switch(tmp_path / "overlays", OverlaySwitch(enabled=["logo"]))
    assert SwitchedOverlays(ingest_config(tmp_path), log).enabled == ["logo"]


def test_a_switch_to_a_stream_with_a_key_must_be_signed_with_it(tmp_path):
    """Only the key's holder (the operator) switches a push stream's overlays, on the internal face
    too. A pull stream has no key: its switch is on the internal face only."""
    body = b'{"enabled": ["score"]}'

    async def check(overlays: SwitchedOverlays, client: TestClient[Any, Any]) -> None:
        now = time.time()
        unsigned = await client.post(SWITCH_PATH, data=body)
        assert unsigned.status == 403 and "signed" in await unsigned.text()
        other_body = switch_token(b"s3cret-key", "cam", b'{"enabled": []}', now)
        stale = switch_token(b"s3cret-key", "cam", body, now - MAX_AGE_SECONDS - 5)
        wrong_key = switch_token(b"other", "cam", body, now)
        for token in (other_body, stale, wrong_key):
            assert (await client.post(SWITCH_PATH, data=body, headers={SWITCH_AUTH_HEADER: token})).status == 403
        assert overlays.enabled is None, "nothing refused was applied"
        signed = {SWITCH_AUTH_HEADER: switch_token(b"s3cret-key", "cam", body, now)}
        assert (await client.post(SWITCH_PATH, data=body, headers=signed)).status == 204
        assert overlays.enabled == ["score"]

    with_route(ingest_config(tmp_path), check, key=b"s3cret-key")

    async def keyless(_: SwitchedOverlays, client: TestClient[Any, Any]) -> None:
        assert (await client.post(SWITCH_PATH, data=body)).status == 204

    with_route(ingest_config(tmp_path / "pull"), keyless)
