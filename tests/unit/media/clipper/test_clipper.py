"""The clipper's reading of the ingest (media/clipper/clipper.py) against a real HTTP server on
127.0.0.1 standing in for the ingest's DVR: a signed stream's playlist read under its token (the
previous key's when the current one is refused), the range waited for or refused, and the segments of
the range joined in order, or refused when one left the window or a reconnect splits the range. The cut
and the storing with FFmpeg: tests/media/test_clipper.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from streamops.contract.clipper import ClipperConfig
from streamops.contract.playback_token import CURRENT_KEY, PREVIOUS_KEY, key_id, parse, verify
from streamops.media.clipper.clipper import Clipper, ClipRefused, playback_tokens, signed

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def playlist(*segments: str, ended: bool = False, discontinuity_before: int | None = None) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:1"]
    lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{T0.isoformat()}")
    for i, name in enumerate(segments):
        if i == discontinuity_before:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += ["#EXTINF:2.000000,", name]
    return "\n".join([*lines, *(["#EXT-X-ENDLIST"] if ended else [])]) + "\n"


def with_ingest(files: dict[str, Any], test: Callable[[str, list[str]], Awaitable[None]]) -> None:
    """`files`: path → body (str or bytes) or HTTP status; `test(base_url, paths asked)`."""

    async def scenario() -> None:
        asked: list[str] = []

        async def serve(request: web.Request) -> web.StreamResponse:
            asked.append(request.path)
            body = files(request.path) if callable(files) else files.get(request.path, 404)
            if isinstance(body, int):
                return web.Response(status=body)
            return web.Response(body=body.encode() if isinstance(body, str) else body)

        app = web.Application()
        app.router.add_get("/{tail:.*}", serve)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            await test(f"http://127.0.0.1:{port}", asked)
        finally:
            await runner.cleanup()

    asyncio.run(scenario())


def clipper(base: str, tmp_path: Path, start: datetime, end: datetime, **fields: Any) -> Clipper:
    config = ClipperConfig.model_validate(
        {
            "playlistUrl": f"{base}/hls/ts/index.m3u8",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "title": "goal",
            "recordingsRoot": str(tmp_path),
            "directory": "ns/goal",
            "endWaitSeconds": 0,
            **fields,
        }
    )
    return Clipper(config, clock=lambda: T0 + timedelta(hours=1))


def test_a_signed_streams_playlist_is_read_under_its_token_the_previous_keys_after_a_403(tmp_path: Path):
    old, new = b"old-key-0123456789abcdef0123456789", b"new-key-0123456789abcdef0123456789"
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / CURRENT_KEY).write_bytes(new)
    (keys / PREVIOUS_KEY).write_bytes(old)
    current, previous = playback_tokens(keys, "ns/cam", T0.timestamp())
    assert verify(previous, [old], "ns/cam", T0.timestamp(), "10.0.0.1") is None
    assert verify(current, [new], "ns/cam", T0.timestamp() + 3000, "10.0.0.1") is None, "valid for the clip's hour"
    assert signed("http://i:8080/hls/ts/index.m3u8?x=1", "TOK") == "http://i:8080/t/TOK/hls/ts/index.m3u8?x=1"

    def ingest(path: str) -> str | int:
        """The ingest's copy of the keys has only the old one yet: a token of the new one is refused."""
        _, _, token, *_ = path.split("/")
        parsed = parse(token)
        return 403 if parsed is None or parsed.kid == key_id(new) else playlist("a.ts")

    async def test(base: str, asked: list[str]) -> None:
        signing = {"playbackKeysDir": str(keys), "playbackStream": "ns/cam"}
        clip = clipper(base, tmp_path, T0, T0 + timedelta(seconds=1), **signing)
        read = await clip._read_playlist()
        [first, second] = asked
        kids = [getattr(parse(path.split("/")[2]), "kid", None) for path in asked]
        assert kids == [key_id(new), key_id(old)]
        assert [s.uri for s in read.segments] == [f"{base}{second.removesuffix('index.m3u8')}a.ts"]
        assert "/t/***/" in clip.redact(first), "tokens stay out of logs and status"

    with_ingest(ingest, test)


def test_the_range_is_refused_outside_the_window_and_what_the_dvr_holds_is_taken_at_the_end(tmp_path: Path):
    later = {"/hls/ts/index.m3u8": playlist("a.ts", "b.ts", ended=True)}

    async def test(base: str, asked: list[str]) -> None:
        with pytest.raises(ClipRefused) as refused:
            await clipper(base, tmp_path, T0 - timedelta(minutes=5), T0 + timedelta(seconds=2))._wait_for_range()
        assert refused.value.refusal == "OutsideDvrWindow" and "holds media from" in str(refused.value)
        partial = await clipper(base, tmp_path, T0 + timedelta(seconds=1), T0 + timedelta(minutes=1))._wait_for_range()
        assert partial.ended and len(partial.segments) == 2, "the stream ended before the clip's end: what there is"
        held = await clipper(base, tmp_path, T0, T0 + timedelta(seconds=3))._wait_for_range()
        assert len(held.segments) == 2

    with_ingest(later, test)


def test_the_ranges_segments_are_joined_in_order_or_refused(tmp_path: Path):
    segments = {f"/hls/ts/{n}.ts": f"<{n}>" for n in "abcdef"}
    files = {
        "/hls/ts/index.m3u8": playlist(*[f"{n}.ts" for n in "abcdef"]),
        "/hls/ts/gap.m3u8": playlist("a.ts", "gone.ts"),
        "/hls/ts/split.m3u8": playlist("a.ts", "b.ts", discontinuity_before=1),
        **segments,
    }

    async def test(base: str, asked: list[str]) -> None:
        work = tmp_path / "work"
        work.mkdir()
        clip = clipper(base, tmp_path, T0 + timedelta(seconds=1), T0 + timedelta(seconds=9))
        joined, first = await clip._download(await clip._read_playlist(), work)
        assert joined.read_bytes() == b"<a><b><c><d><e>" and first == T0
        for name, refusal in (("gap", "OutsideDvrWindow"), ("split", "ClipFailed")):
            clip = clipper(base, tmp_path, T0, T0 + timedelta(seconds=3), playlistUrl=f"{base}/hls/ts/{name}.m3u8")
            with pytest.raises(ClipRefused) as refused:
                await clip._download(await clip._read_playlist(), work)
            assert refused.value.refusal == refusal

    with_ingest(files, test)
