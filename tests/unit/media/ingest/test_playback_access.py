"""The ingest's playback gate without FFmpeg (streamops.media.ingest.playback_access): the keys'
reload and the real worker's HTTP face (its aiohttp app, nothing
started): every playback path at the root and under the prefix, with and without a token segment,
publishing and the worker endpoints never behind it. Who counts as a viewer: test_viewers.py; the
configuration's playback defaults: tests/unit/contract/test_ingest.py.
With media: tests/media/test_playback_access.py."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from streamops.contract.ingest import EDGE_HEADER, IngestConfig
from streamops.contract.playback_token import Refusal, sign
from streamops.media.ingest.playback_access import PlaybackGate, PlaybackKeys, TokenPathFilter, mask_token_paths
from streamops.media.ingest.worker import IngestWorker

# publishOverHttp: these tests are about the gate; HTTPS-only publishing is test_key_bearing.py's.
BASE: dict[str, Any] = {"stream": "cam", "source": {"push": {}}, "publishOverHttp": True}
log = logging.getLogger("test.playback")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- keys ---------------------------------------------------------------------------------------------


def write_key(path: Path, key: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(key)
    tmp.replace(path)  # a new inode, as kubelet's symlink swap gives


def test_keys_are_read_again_when_a_file_changes_at_most_once_a_second(tmp_path, caplog):
    clock = Clock()
    one, two = os.urandom(32), os.urandom(31) + b"\n"  # raw bytes, a trailing newline byte kept
    keys = PlaybackKeys(str(tmp_path), log, clock)
    with caplog.at_level(logging.INFO, logger=log.name):
        assert keys.keys() == [] and keys.problem
        assert "no playback signing key in" in caplog.text
        write_key(tmp_path / "current", one)
        assert keys.keys() == [], "not looked at again within the second"
        clock.now += 1
        assert keys.keys() == [one] and keys.problem is None
        write_key(tmp_path / "previous", one)
        write_key(tmp_path / "current", two)
        clock.now += 1
        assert keys.keys() == [two, one]
        (tmp_path / "previous").unlink()
        clock.now += 1
        assert keys.keys() == [two]
    assert one.hex() not in caplog.text and repr(one) not in caplog.text


# --- the worker's HTTP face ----------------------------------------------------------------------------


def serve(worker: IngestWorker, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(worker.apps()[0], host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def worker(tmp_path: Path, **overrides: Any) -> IngestWorker:
    config = {**BASE, "mediaDir": str(tmp_path / "media"), "pathPrefix": "/streams/ns/cam", **overrides}
    return IngestWorker(IngestConfig.model_validate(config))


PLAYBACK_PATHS = ["player", "player/player.js", "time"]
NOT_LIVE = ["hls/cmaf/index.m3u8", "hls/cmaf/part-000001.m4s", "hls/ts/seg-000001.ts", "dash/manifest.mpd"]
# A Broadcast's page and state (docs/design/broadcasts.md): behind the gate; 404 while none was sent.
BROADCAST_PATHS = ["broadcasts/keynote/player", "broadcasts/keynote/state.json"]


def test_a_public_stream_serves_every_path_with_or_without_a_token_segment(tmp_path):
    async def check(client: TestClient[Any, Any]) -> None:
        for base in ("", "/streams/ns/cam"):
            for token in ("", "/t/anything", "/t/v1~abcdefgh~1~~x"):
                for path in PLAYBACK_PATHS:
                    response = await client.get(f"{base}{token}/{path}")
                    assert response.status == 200, (base, token, path)
                for path in [*NOT_LIVE, *BROADCAST_PATHS]:  # routed (the handler answers: nothing on air yet)
                    response = await client.get(f"{base}{token}/{path}")
                    assert response.status == 404 and response.headers["Access-Control-Allow-Origin"] == "*"
        # Under a token segment only playback: no publish page, no worker endpoint, no feed.
        for path in ("/t/x/publish", "/t/x/status", "/t/x/feed", "/t/x/whip", "/t/x/viewers"):
            assert (await client.get(path)).status in (404, 405), path
        assert (await client.get("/publish")).status == 200

    serve(worker(tmp_path), check)


def test_a_signed_stream_refuses_playback_paths_without_a_valid_token(tmp_path):
    key = os.urandom(32)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "current").write_bytes(key)
    playback = {"namespace": "ns", "access": "signed", "keysDir": str(tmp_path / "keys")}
    ingest = worker(tmp_path, playback=playback)
    good = sign(key, "ns/cam", int(time.time()) + 60)

    async def check(client: TestClient[Any, Any]) -> None:
        for base in ("", "/streams/ns/cam"):
            for path in [*PLAYBACK_PATHS, *NOT_LIVE, "screenshot.jpg", *BROADCAST_PATHS]:
                response = await client.get(f"{base}/{path}")
                assert response.status == 401, (base, path)
                assert await response.text() == Refusal.MISSING.body + "\n"
                assert response.headers["Cache-Control"] == "no-store"
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                response = await client.get(f"{base}/t/{good}/{path}")
                assert response.status in (200, 404), (base, path)  # 404: nothing on air
            response = await client.post(f"{base}/whep", data=b"v=0")
            assert response.status == 401
            response = await client.options(f"{base}/whep")
            assert response.status == 401, "the OPTIONS answer names the ICE servers: playback too"
            response = await client.post(f"{base}/t/{good}/whep", data=b"v=0")
            assert response.status == 403 and "does not serve WHEP" in await response.text()
        # Not playback, not behind the gate: the probes and the publish page (its user has the key).
        for path in ("/healthz", "/publish"):
            assert (await client.get(path)).status == 200, path
        # Not playback either, and not public at all: the internal face's (issue 37, finding 1).
        for path in ("/status", "/metrics", "/viewers", "/feed", "/feed/transcoded"):
            assert (await client.get(path)).status == 404, path
        assert (await client.get("/readyz")).status == 503  # not started

    serve(ingest, check)


def test_refusals_and_requests_are_counted_with_the_ingest_labels(tmp_path):
    registry = CollectorRegistry()
    config = IngestConfig.model_validate(
        {**BASE, "playback": {"namespace": "ns", "access": "signed", "keysDir": str(tmp_path)}}
    )
    PlaybackGate(config, registry, {"stream": "cam", "role": "primary"}, log)
    labels = {"stream": "cam", "role": "primary", "protocol": "hls"}
    assert registry.get_sample_value("streamops_viewers", labels) == 0
    # Children as they are first needed: nothing requested or refused yet, no LL-HLS, DASH or WHEP served.
    for name in ("streamops_playback_requests_total", "streamops_playback_refusals_total"):
        assert not [s for m in registry.collect() for s in m.samples if s.name == name], name
    assert registry.get_sample_value("streamops_viewers", {**labels, "protocol": "llhls"}) is None


def test_the_worker_counts_each_request_by_kind_and_via_and_each_refusal_by_reason(tmp_path):
    key = os.urandom(32)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "current").write_bytes(key)
    playback = {"namespace": "ns", "access": "signed", "keysDir": str(tmp_path / "keys")}
    ingest = worker(tmp_path, playback=playback, hls={"latencyMode": "low"}, dash=True)
    good = sign(key, "ns/cam", int(time.time()) + 60)

    def value(name: str, **labels: str) -> float | None:
        return ingest.registry.get_sample_value(name, {"stream": "cam", "role": "primary", **labels})

    async def check(client: TestClient[Any, Any]) -> None:
        for path in ("hls/cmaf/index.m3u8", "dash/manifest.mpd", "hls/cmaf/part-000001.m4s", "dash/init.m4s"):
            await client.get(f"/t/{good}/{path}")
        await client.get(f"/t/{good}/player")
        await client.get(f"/t/{good}/hls/ts/seg-000001.ts", headers={EDGE_HEADER: "edge-0"})
        await client.get("/hls/cmaf/index.m3u8")  # no token: refused, not counted as a request
        await client.get(f"/t/{good}x/hls/cmaf/index.m3u8")

    serve(ingest, check)
    assert value("streamops_playback_requests_total", kind="playlist", via="direct") == 2
    assert value("streamops_playback_requests_total", kind="media", via="direct") == 2
    assert value("streamops_playback_requests_total", kind="other", via="direct") == 1
    assert value("streamops_playback_requests_total", kind="media", via="edge") == 1
    assert value("streamops_playback_requests_total", kind="playlist", via="edge") is None  # none asked: no series
    assert value("streamops_playback_refusals_total", reason="missing") == 1
    assert value("streamops_playback_refusals_total", reason="invalid") == 1
    assert value("streamops_playback_refusals_total", reason="expired") is None
    for protocol in ("hls", "llhls", "dash"):
        assert value("streamops_viewers", protocol=protocol) == 0, protocol
    assert value("streamops_viewers", protocol="webrtc") is None  # no WHEP served


def test_token_paths_are_masked_in_log_records():
    token = "v1~abcdefgh~1700000000~~" + "s" * 43
    assert mask_token_paths(f"GET /streams/ns/cam/t/{token}/hls/cmaf/index.m3u8 failed") == (
        "GET /streams/ns/cam/t/***/hls/cmaf/index.m3u8 failed"
    )
    record = logging.LogRecord("aiohttp.server", logging.ERROR, "", 0, "Bad request %s", (f"/t/{token}/x",), None)
    TokenPathFilter().filter(record)
    assert token not in record.getMessage() and "/t/***/x" in record.getMessage()
