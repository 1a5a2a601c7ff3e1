"""Low-latency DASH's segments served while they are written (streamops.media.ingest.dash_chunks),
with a writer that behaves as FFmpeg's dash muxer does (`<name>.tmp` growing fragment by fragment,
renamed when complete) and aiohttp's real server and client: bytes reach the client as they are
written, a body is the whole segment, a segment that never begins is a 404 and one that never
completes a cut transfer, never a short 200."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from streamops.media.ingest.dash_chunks import GrowingSegments, is_segment, temporary

SEGMENT = 0.4  # seconds: the test's segment length
NAME = "chunk-0-000007.m4s"


def served(directory: Path, growing: GrowingSegments, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    """`check` against a server of `directory`'s segments (aiohttp's, on loopback)."""

    async def run() -> None:
        async with TestClient(TestServer(app_for(directory, growing), host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def app_for(directory: Path, growing: GrowingSegments) -> web.Application:
    async def segment(request: web.Request) -> web.StreamResponse:
        return await growing.serve(request, directory / request.match_info["name"], SEGMENT)

    app = web.Application()
    app.router.add_get("/dash/{name}", segment)
    return app


async def write_like_ffmpeg(path: Path, fragments: list[bytes], every: float, complete: bool = True) -> None:
    tmp = temporary(path)
    with tmp.open("wb") as f:
        for fragment in fragments:
            f.write(fragment)
            f.flush()
            await asyncio.sleep(every)
    if complete:
        tmp.replace(path)


def test_segment_names_are_ffmpegs_media_segments_only():
    assert is_segment(NAME) and is_segment("chunk-12-123456.m4s")
    assert not is_segment("init-0.m4s") and not is_segment(NAME + ".tmp") and not is_segment("manifest.mpd")


def test_a_growing_segment_reaches_the_client_fragment_by_fragment(tmp_path: Path):
    growing = GrowingSegments()
    fragments = [bytes([i]) * 1000 for i in range(5)]
    first_read = asyncio.Event()

    async def write_after_the_first_is_read() -> None:
        # The rest is written only once the client holds the first fragment: bytes reach it while
        # the segment is incomplete however loaded the machine (a timed bound once failed at load 20).
        tmp = temporary(tmp_path / NAME)
        with tmp.open("wb") as f:
            f.write(fragments[0])
            f.flush()
            await asyncio.wait_for(first_read.wait(), 30)
            for fragment in fragments[1:]:
                f.write(fragment)
                f.flush()
                await asyncio.sleep(0.02)
        tmp.replace(tmp_path / NAME)

    async def check(client: TestClient[Any, Any]) -> None:
        writer = asyncio.create_task(write_after_the_first_is_read())
        response = await client.get(f"/dash/{NAME}")
        assert response.status == 200 and response.headers["Transfer-Encoding"] == "chunked"
        first = await asyncio.wait_for(response.content.readany(), 30)
        assert first and first == fragments[0][: len(first)], "what was written, before the rest"
        first_read.set()
        body = first + await response.read()
        await writer
        assert body == b"".join(fragments), "the whole segment, in order"
        assert growing.watched == 0, "the watcher is gone with its last reader"

    served(tmp_path, growing, check)


def test_readers_share_one_watcher_and_a_complete_segment_is_a_file(tmp_path: Path):
    growing = GrowingSegments()
    fragments = [b"x" * 500, b"y" * 500, b"z" * 500]

    async def check(client: TestClient[Any, Any]) -> None:
        writer = asyncio.create_task(write_like_ffmpeg(tmp_path / NAME, fragments, every=0.1))
        await asyncio.sleep(0.02)
        responses = await asyncio.gather(*(client.get(f"/dash/{NAME}") for _ in range(3)))
        await asyncio.sleep(0.05)
        assert growing.watched == 1
        bodies = [await r.read() for r in responses]
        await writer
        assert bodies == [b"".join(fragments)] * 3
        complete = await client.get(f"/dash/{NAME}")
        assert complete.status == 200 and "Transfer-Encoding" not in complete.headers
        assert complete.headers["Content-Length"] == "1500" and await complete.read() == b"".join(fragments)

    served(tmp_path, growing, check)


def test_a_request_just_before_the_segment_begins_waits_for_it(tmp_path: Path):

    async def check(client: TestClient[Any, Any]) -> None:
        request = asyncio.create_task(client.get(f"/dash/{NAME}"))
        await asyncio.sleep(0.1)
        await write_like_ffmpeg(tmp_path / NAME, [b"a" * 10, b"b" * 10], every=0.05)
        response = await request
        assert response.status == 200 and await response.read() == b"a" * 10 + b"b" * 10

    served(tmp_path, GrowingSegments(), check)


def test_a_segment_that_never_begins_is_not_found_after_a_segment(tmp_path: Path):

    async def check(client: TestClient[Any, Any]) -> None:
        started = time.monotonic()
        response = await client.get("/dash/chunk-0-999999.m4s")
        assert response.status == 404
        assert SEGMENT <= time.monotonic() - started < SEGMENT + 0.5

    served(tmp_path, GrowingSegments(), check)


def test_a_segment_that_never_completes_is_a_cut_transfer_not_a_short_segment(tmp_path: Path):

    async def check(client: TestClient[Any, Any]) -> None:
        writer = asyncio.create_task(write_like_ffmpeg(tmp_path / NAME, [b"a" * 100], every=10, complete=False))
        await asyncio.sleep(0.02)
        started = time.monotonic()
        response = await client.get(f"/dash/{NAME}")
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
        assert time.monotonic() - started < 3 * SEGMENT + 1.5, "held at most three segments"
        writer.cancel()

    served(tmp_path, GrowingSegments(), check)
