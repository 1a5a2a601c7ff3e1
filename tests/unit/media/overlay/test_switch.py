"""The overlay switch on the data plane without Chromium or FFmpeg: the ingest's POST /overlays
(its answers, switch.json, /status) on the real worker's app, and the renderer's reading of
switch.json (tests/media/test_overlays.py switches a real renderer and ingest)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from streamops.contract.ingest import FEED_PATH, TRANSCODED_FEED_PATH, VIEWERS_PATH, IngestConfig
from streamops.contract.overlay import (
    SWITCH_AUTH_HEADER,
    SWITCH_FILE,
    SWITCH_PATH,
    OverlaySwitch,
    switch_token,
)
from streamops.contract.stamped_token import MAX_AGE_SECONDS
from streamops.contract.worker_credential import AUTHORIZATION
from streamops.media.ingest.routes import ingest_apps
from streamops.media.ingest.worker import IngestWorker
from streamops.media.overlay.switch import SwitchWatch, read_switch, switch_problem, switched_on, write_switch

CREDENTIAL = "unit-test-worker-credential-0123456789"
AUTH = {AUTHORIZATION: f"Bearer {CREDENTIAL}"}
LADDER = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}
OVERLAYS = [
    {"name": "logo", "x": 80, "y": 0, "width": 20, "height": 10},
    {"name": "score", "x": 5, "y": 5, "width": 40, "height": 20},
]


def ingest_config(tmp_path: Path, overlays: bool = True) -> IngestConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    credential = tmp_path / "worker-credential"
    credential.write_text(CREDENTIAL + "\n")  # as a Secret written with `echo` may hold it
    config: dict[str, Any] = {
        "stream": "cam",
        "source": {"push": {"protocols": ["rtmp"]}},
        "mediaDir": str(tmp_path / "media"),
        "transcoding": LADDER,
        "credentialFile": str(credential),
    }
    if overlays:
        config |= {"overlays": OVERLAYS, "overlayDir": str(tmp_path / "overlays")}
    return IngestConfig.model_validate(config)


def with_worker(
    config: IngestConfig,
    check: Callable[[IngestWorker, TestClient[Any, Any]], Awaitable[None]],
    public: bool = False,
    headers: dict[str, str] | None = AUTH,
) -> None:
    """`check` against the worker's internal face (its public one with `public`), by a client that
    presents `headers` (the stream's worker credential, as the operator does)."""

    async def run() -> None:
        worker = IngestWorker(config)
        app = ingest_apps(worker)[0 if public else 1]
        async with TestClient(TestServer(app, host="127.0.0.1", port=0), headers=headers or {}) as client:
            await check(worker, client)

    asyncio.run(run())


def test_post_overlays_writes_switch_json_and_reports_it(tmp_path):
    directory = tmp_path / "overlays"

    async def check(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        assert worker.status().overlays_enabled is None, "no switch yet"
        response = await client.post(SWITCH_PATH, data=json.dumps({"enabled": ["score"]}))
        assert response.status == 204, await response.text()
        assert json.loads((directory / SWITCH_FILE).read_text()) == {"enabled": ["score"]}
        status = await (await client.get("/status")).json()
        assert status["overlaysEnabled"] == ["score"]
        assert (await client.post(SWITCH_PATH, data='{"enabled": []}')).status == 204
        assert read_switch(directory) == OverlaySwitch(enabled=[])
        assert (await (await client.get("/status")).json())["overlaysEnabled"] == []
        assert [p.name for p in directory.iterdir()] == [SWITCH_FILE], "no temporary file left"

    with_worker(ingest_config(tmp_path), check)


def test_post_overlays_refuses_what_is_not_a_switch_of_its_overlays(tmp_path):
    directory = tmp_path / "overlays"

    async def check(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
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
        assert not (directory / SWITCH_FILE).exists() and worker.status().overlays_enabled is None

    with_worker(ingest_config(tmp_path), check)


def test_post_overlays_without_overlays_is_404(tmp_path):
    async def check(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        response = await client.post(SWITCH_PATH, data='{"enabled": []}')
        assert (response.status, await response.text()) == (404, "this ingest has no overlays")
        assert worker.status().overlays_enabled is None

    with_worker(ingest_config(tmp_path, overlays=False), check)


def test_a_restarted_ingest_reads_the_switch_back(tmp_path):
    write_switch(tmp_path / "overlays", OverlaySwitch(enabled=["logo"]))
    assert IngestWorker(ingest_config(tmp_path)).status().overlays_enabled == ["logo"]


def test_without_a_switch_every_overlay_is_off(tmp_path):
    names = ["logo", "score"]
    assert switched_on(None, names) == frozenset()
    assert switched_on(OverlaySwitch(enabled=["score"]), names) == {"score"}
    assert switch_problem(OverlaySwitch(enabled=["score", "logo"]), names) is None
    (tmp_path / SWITCH_FILE).write_text("{broken")
    assert read_switch(tmp_path) is None, "an unreadable switch turns nothing on"


def test_the_renderer_reads_the_switch_again_only_when_it_was_replaced(tmp_path):
    watch = SwitchWatch(tmp_path, ["logo", "score"])
    assert watch.poll() == frozenset(), "the first poll answers: nothing on without switch.json"
    assert watch.poll() is None
    write_switch(tmp_path, OverlaySwitch(enabled=["score"]))
    assert watch.poll() == {"score"}
    assert watch.poll() is None, "unchanged: not read again"
    stat = os.stat(tmp_path / SWITCH_FILE)
    write_switch(tmp_path, OverlaySwitch(enabled=["score", "logo"]))
    # The same mtime (a coarse clock) still counts as a change: each write is a new inode.
    os.utime(tmp_path / SWITCH_FILE, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert watch.poll() == {"logo", "score"} and watch.on == {"logo", "score"}
    (tmp_path / SWITCH_FILE).unlink()
    assert watch.poll() == frozenset(), "removed: every overlay off"


def test_a_switch_to_a_stream_with_a_key_must_be_signed_with_it(tmp_path):
    """Only the key's holder (the operator) switches a push stream's overlays, on the internal face
    too. A pull stream has no key: its switch is on the internal face only."""
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    config = ingest_config(tmp_path).model_copy(update={"stream_key_file": str(key_file)})
    body = b'{"enabled": ["score"]}'

    async def check(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        now = time.time()
        unsigned = await client.post(SWITCH_PATH, data=body)
        assert unsigned.status == 403 and "signed" in await unsigned.text()
        other_body = switch_token(b"s3cret-key", "cam", b'{"enabled": []}', now)
        stale = switch_token(b"s3cret-key", "cam", body, now - MAX_AGE_SECONDS - 5)
        wrong_key = switch_token(b"other", "cam", body, now)
        for token in (other_body, stale, wrong_key):
            assert (await client.post(SWITCH_PATH, data=body, headers={SWITCH_AUTH_HEADER: token})).status == 403
        assert worker.status().overlays_enabled is None, "nothing refused was applied"
        signed = {SWITCH_AUTH_HEADER: switch_token(b"s3cret-key", "cam", body, now)}  # the key file's, stripped
        assert (await client.post(SWITCH_PATH, data=body, headers=signed)).status == 204
        assert worker.status().overlays_enabled == ["score"]

    with_worker(config, check)

    async def keyless(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        assert (await client.post(SWITCH_PATH, data=body)).status == 204

    with_worker(ingest_config(tmp_path / "pull"), keyless)


def test_the_public_face_serves_no_switch_feed_status_metrics_or_viewers(tmp_path):
    """Finding 1 and 2 of issue 37: these were on the one port every external Service carried, a
    keyless (pull) stream's switch open to whoever sent no proxy header, every answer with CORS."""
    body = b'{"enabled": ["score"]}'

    async def public(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        assert (await client.post(SWITCH_PATH, data=body)).status in (404, 405)
        for path in (FEED_PATH, TRANSCODED_FEED_PATH, "/status", "/metrics", VIEWERS_PATH, "/backup/uplink"):
            response = await client.get(path)
            assert response.status == 404, path
        assert worker.status().overlays_enabled is None
        assert (await client.get("/healthz")).status == 200, "a load balancer's health check still answers"

    with_worker(ingest_config(tmp_path), public, public=True)

    async def internal(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        status = await client.get("/status")
        assert status.status == 200 and "Access-Control-Allow-Origin" not in status.headers, "no CORS inside"
        options = await client.options(FEED_PATH, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in options.headers

    with_worker(ingest_config(tmp_path / "b"), internal)


def test_the_internal_face_asks_for_the_streams_worker_credential(tmp_path):
    """Finding 8 of issue 37: anything that reached the internal port read the feeds, the status and
    the viewers and switched a pull stream's overlays. Now each asks for the stream's worker
    credential (401 before the route runs: nothing applied); the probes and /metrics stay open."""
    body = b'{"enabled": ["score"]}'

    async def stranger(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        wrong = {AUTHORIZATION: "Bearer not-the-credential"}
        for headers in ({}, wrong, {AUTHORIZATION: CREDENTIAL}, {AUTHORIZATION: f"Basic {CREDENTIAL}"}):
            response = await client.post(SWITCH_PATH, data=body, headers=headers)
            assert response.status == 401, headers
            for path in (FEED_PATH, TRANSCODED_FEED_PATH, "/status", VIEWERS_PATH):
                assert (await client.get(path, headers=headers)).status == 401, (path, headers)
        assert worker.status().overlays_enabled is None, "nothing refused was applied"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status in (200, 503), path
        assert (await client.post(SWITCH_PATH, data=body, headers=AUTH)).status == 204
        assert worker.status().overlays_enabled == ["score"]

    with_worker(ingest_config(tmp_path), stranger, headers=None)

    async def unconfigured(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        assert (await client.post(SWITCH_PATH, data=body)).status == 401, "no credential configured: no one"
        assert (await client.get("/status")).status == 401
        assert worker.status().overlays_enabled is None

    config = ingest_config(tmp_path / "none").model_copy(update={"credential_file": None})
    with_worker(config, unconfigured)
