"""The ingest worker's two HTTP faces (IngestWorker.apps) without FFmpeg: which routes each face
serves, the internal face's worker credential, and /status reporting what a route changed. Each
route group on its own, from its parts: test_routes.py, test_overlay_switch.py, test_load_caps.py
(the feed's cap), webrtc/test_routes.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from streamops.contract.ingest import (
    FEED_PATH,
    HANDOVER_FILES_PATH,
    HANDOVER_FOLLOW_PATH,
    HANDOVER_RELEASE_PATH,
    HANDOVER_STATE_PATH,
    PLAYER_PAGE,
    PLAYER_SETTINGS_PATH,
    TRANSCODED_FEED_PATH,
    VIEWERS_PATH,
    BroadcastMemberView,
    BroadcastView,
    HandoverState,
    IngestConfig,
    PlayerSettings,
)
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, switch_token
from streamops.contract.worker_credential import AUTHORIZATION
from streamops.media.ingest.worker import IngestWorker

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
        app = worker.apps()[0 if public else 1]
        async with TestClient(TestServer(app, host="127.0.0.1", port=0), headers=headers or {}) as client:
            await check(worker, client)

    asyncio.run(run())


def test_status_reports_the_overlays_a_signed_switch_turned_on(tmp_path):
    """The switch route is wired to the worker's stream key (its file's, stripped) and /status reads
    the overlays it switched; a restarted worker reads them back."""
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    config = ingest_config(tmp_path).model_copy(update={"stream_key_file": str(key_file)})
    body = json.dumps({"enabled": ["score"]}).encode()

    async def check(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        assert (await (await client.get("/status")).json())["overlaysEnabled"] is None, "no switch yet"
        assert (await client.post(SWITCH_PATH, data=body)).status == 403, "unsigned"
        signed = {SWITCH_AUTH_HEADER: switch_token(b"s3cret-key", "cam", body, time.time())}
        response = await client.post(SWITCH_PATH, data=body, headers=signed)
        assert response.status == 204, await response.text()
        assert (await (await client.get("/status")).json())["overlaysEnabled"] == ["score"]

    with_worker(config, check)
    assert IngestWorker(config).status().overlays_enabled == ["score"]


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


@contextlib.asynccontextmanager
async def both_faces(tmp_path: Path) -> AsyncIterator[tuple[IngestWorker, TestClient[Any, Any], TestClient[Any, Any]]]:
    """A worker without overlays, its internal face's client and its public face's."""
    worker = IngestWorker(ingest_config(tmp_path, overlays=False))
    public, internal = worker.apps()
    async with (
        TestClient(TestServer(internal, host="127.0.0.1", port=0)) as inside,
        TestClient(TestServer(public, host="127.0.0.1", port=0)) as outside,
    ):
        yield worker, inside, outside


def test_the_player_page_takes_its_projection_live(tmp_path):
    """POST /player-settings on the internal face (the worker credential, as every route there) sets
    what the next player page renders and what /status reports: the same worker, no restart. The
    public face has no such route."""
    options = re.compile(r'<script type="application/json" id="streamops-player-options">(.*?)</script>', re.S)

    async def run() -> None:
        async with both_faces(tmp_path) as (worker, inside, outside):

            async def page() -> dict[str, Any]:
                found = options.search(await (await outside.get(PLAYER_PAGE)).text())
                assert found
                blob: dict[str, Any] = json.loads(found.group(1))
                return blob

            assert worker.status().projection == "regular"
            assert "projection" not in await page(), "a regular page as before: no 360° view"
            body = b'{"projection": "vr360tb"}'
            assert (await inside.post(PLAYER_SETTINGS_PATH, data=body)).status == 401
            assert (await outside.post(PLAYER_SETTINGS_PATH, data=body)).status in (404, 405)
            assert worker.status().projection == "regular", "nothing refused was applied"
            assert (await inside.post(PLAYER_SETTINGS_PATH, data=body, headers=AUTH)).status == 204
            assert (await (await inside.get("/status", headers=AUTH)).json())["projection"] == "vr360tb"
            blob = await page()
            assert blob["projection"] == "vr360tb"
            assert blob["scripts"]["projection"].startswith("player/projection.js?v=")
            bad = await inside.post(PLAYER_SETTINGS_PATH, data=b'{"projection": "vr720"}', headers=AUTH)
            assert bad.status == 400 and "projection" in await bad.text()
            assert worker.status().projection == "vr360tb"
            regular = await inside.post(PLAYER_SETTINGS_PATH, data=b'{"projection": "regular"}', headers=AUTH)
            assert regular.status == 204
            assert "projection" not in await page()

    asyncio.run(run())


def test_a_broadcast_s_page_and_state_are_served_as_the_operator_last_sent_them(tmp_path):
    """PlayerSettings.broadcasts (POSTed like the projection): each broadcast's page and state document
    under the public face, 404 for one never sent; the state's Cache-Control lets a shared cache
    absorb the polls for a second; /status reports the settings' digest, so the operator sees them."""

    async def run() -> None:
        async with both_faces(tmp_path) as (_, inside, outside):
            state = "/broadcasts/keynote/state.json"
            assert (await outside.get(state)).status == 404
            assert (await outside.get("/broadcasts/keynote/player")).status == 404
            settings = PlayerSettings(
                broadcasts=[
                    BroadcastView(
                        name="keynote", title="Keynote <1>", phase="Live", on_air="cam",
                        members=[BroadcastMemberView(name="cam", base="http://h/s/ns/cam", hls="hls/cmaf/index.m3u8")],
                    )
                ]
            )  # fmt: skip
            posted = await inside.post(PLAYER_SETTINGS_PATH, data=settings.to_json().encode(), headers=AUTH)
            assert posted.status == 204
            assert (await (await inside.get("/status", headers=AUTH)).json())["playerSettings"] == settings.digest()
            answer = await outside.get(state)
            assert answer.status == 200 and answer.headers["Cache-Control"] == "public, max-age=1"
            document = await answer.json()
            assert (document["phase"], document["onAir"], document["members"][0]["hls"]) == (
                "Live", "cam", "hls/cmaf/index.m3u8",
            )  # fmt: skip
            page = await outside.get("/broadcasts/keynote/player")
            text = await page.text()
            assert page.status == 200 and page.headers["Cache-Control"] == "private, no-cache"
            assert "<title>Keynote &lt;1&gt;</title>" in text
            assert '"scripts":{"hls":"../../player/hls.min.js?v=' in text or '"hls":null' in text
            assert 'src="../../player/broadcast.js?v=' in text
            assert (await outside.get("/broadcasts/other/state.json")).status == 404
            assert (await outside.get("/broadcasts/keynote/../keynote/state.json")).status in (200, 404)

    asyncio.run(run())


def test_handover_routes_ask_for_the_credential_and_a_release_refuses_publishers(tmp_path):
    """Issue 56: the handover's routes are the internal face's, credential first; a release (and a
    successor's hold while it follows) refuses the RTMP front's publishers, and a released ingest is
    not ready, so the Service sends encoders and viewers to its successor."""

    async def check(worker: IngestWorker, client: TestClient[Any, Any]) -> None:
        for path in (HANDOVER_STATE_PATH, HANDOVER_FILES_PATH + "/ts/-/seg-1.ts"):
            assert (await client.get(path)).status == 401, path
        for path in (HANDOVER_FOLLOW_PATH, HANDOVER_RELEASE_PATH):
            assert (await client.post(path)).status == 401, path
        state = HandoverState.model_validate_json(await (await client.get(HANDOVER_STATE_PATH, headers=AUTH)).read())
        assert state.release is None and {(p.variant, p.rendition) for p in state.playlists} == {
            ("cmaf", "360p"),
            ("ts", "360p"),
        }
        worker.listening = True
        assert worker.accepting  # admit() would start an FFmpeg for the publisher: only refusals here
        await worker.hold_media(True)
        assert worker.rtmp_sessions.admit(2, False) == "inactive" and worker.pull.held and worker.push.closed
        await worker.hold_media(False)
        assert not worker.pull.held and not worker.push.closed
        assert (await client.post(HANDOVER_RELEASE_PATH, headers=AUTH)).status == 202
        for _ in range(200):
            if worker.status().handover is not None and worker.status().handover.release == "released":  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.01)
        report = worker.status().handover
        assert report is not None and report.release == "released"
        assert not worker.accepting and worker.rtmp_sessions.admit(3, False) == "inactive"
        await worker.handover.stop()

    with_worker(ingest_config(tmp_path, overlays=False), check, headers=None)
