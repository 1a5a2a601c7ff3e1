"""The pusher's loop before FFmpeg: it reads the feed's PMT over a real loopback HTTP connection (a
stand-in ingest serving PAT and PMT) and pushes, or not, by the feed's video codec. FFmpeg is not
run: the push itself is recorded instead (tests/media/test_enhanced_rtmp.py runs it)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import pytest
from devtools.waits import eventually_async
from streamops.contract.pusher import PusherConfig
from streamops.media.mpegts import PAT_PID, PAT_TABLE_ID, PMT_TABLE_ID, SYNC, TS_PACKET
from streamops.media.pusher import worker
from streamops.media.pusher.plan import REJOIN_POLL_SECONDS, REJOIN_SECONDS, Outcome
from streamops.media.pusher.worker import Pusher

H264, HEVC, AAC, PRIVATE = 0x1B, 0x24, 0x0F, 0x06
SAV1 = b"\x05\x04SAV1"  # the workers' own registration of AV1 (hack/ffmpeg/patches/mpegts-av1-feed.patch)


def section_packet(pid: int, table_id: int, body: bytes) -> bytes:
    section = struct.pack(">BH", table_id, 0xB000 | (len(body) + 4)) + body + b"CRC!"
    return (struct.pack(">BHBB", SYNC, 0x4000 | pid, 0x10, 0) + section).ljust(TS_PACKET, b"\xff")


def feed(*streams: tuple[int, bytes]) -> bytes:
    """The start of a feed: PAT, PMT (video on 0x100, audio on 0x101), then a media packet."""
    pat = section_packet(PAT_PID, PAT_TABLE_ID, struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 1, 0xF000))
    body = struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 0xE100, 0xF000)
    for pid, (stream_type, info) in enumerate(streams, start=0x100):
        body += struct.pack(">BHH", stream_type, 0xE000 | pid, 0xF000 | len(info)) + info
    media = struct.pack(">BHB", SYNC, 0x0100, 0x10).ljust(TS_PACKET, b"\x00")
    return pat + section_packet(0x1000, PMT_TABLE_ID, body) + media


class Ingest:
    """An HTTP/1.0 feed on 127.0.0.1: `serving` is the body (None: 503, no session)."""

    def __init__(self) -> None:
        self.serving: bytes | None = None
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Ingest:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/feed"

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        body = self.serving
        writer.write(b"HTTP/1.0 503 No session\r\n\r\n" if body is None else b"HTTP/1.0 200 OK\r\n\r\n" + body)
        await writer.drain()
        writer.close()


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "CODEC_POLL_SECONDS", 0.01)
    monkeypatch.setattr(worker, "FEED_POLL_SECONDS", 0.01)


def pusher_of(url: str, pushes: list[bool], **config: Any) -> tuple[Pusher, list[str]]:
    """A pusher of the feed at `url` whose push runs are recorded into `pushes` (their add_silence),
    and every state it changed to."""
    cfg = {"stream": "cam", "feedUrl": url, "uri": "rtmp://127.0.0.1:9/live", "noAudioMode": "drop", **config}
    cfg.setdefault("egress", {"allowCidrs": ["127.0.0.1/32"]})  # the egress guard lets the target be
    pusher = Pusher(PusherConfig.model_validate(cfg))
    states: list[str] = []
    set_state: Callable[[Any], None] = pusher._set_state

    def recorded(state: Any) -> None:
        if state != pusher.state:
            states.append(state)
        set_state(state)

    async def push_once(target: Any, add_silence: bool) -> tuple[Outcome, float, str]:
        pushes.append(add_silence)
        pusher._set_state("connecting")
        return Outcome.SOURCE_ENDED, 1.0, ""

    pusher._set_state = recorded  # type: ignore[method-assign]
    pusher._push_once = push_once  # type: ignore[method-assign]
    return pusher, states


def test_a_feed_in_a_codec_the_target_does_not_take_is_not_pushed_until_a_session_in_one_it_takes():
    async def scenario() -> None:
        async with Ingest() as ingest:
            pushes: list[bool] = []
            pusher, states = pusher_of(ingest.url, pushes)
            ingest.serving = feed((HEVC, b""), (AAC, b""))
            for _ in range(3):  # three polls of the same HEVC session
                await pusher._cycle()
            assert pushes == [] and ingest.requests == 3
            assert states == ["codec-not-accepted"], "from waiting-for-source, and no flapping between polls"
            status = pusher.status()
            assert (status.state, status.live, status.bytes_sent, status.failures) == (
                "codec-not-accepted",
                False,
                0,
                0,
            )
            assert status.last_error is not None and status.last_error.startswith(
                "the source's video is hevc and the target takes h264 (spec.targetVideoCodecs): add hevc"
            )
            assert pusher.target_failures == 0, "not a target failure: no backoff, no failure metric"
            gauge = pusher.metrics().body.decode()
            assert 'streamops_pusher_state{state="codec-not-accepted",stream="cam",target="restream"} 1.0' in gauge

            # The publisher comes back in H.264: that session is pushed.
            ingest.serving = feed((H264, b""), (AAC, b""))
            await pusher._cycle()
            assert pushes == [False] and states[-1] == "connecting"

            # The session ends (no feed): waiting for the source again, not refusing a codec.
            ingest.serving = None
            pusher._set_state("codec-not-accepted")
            task = asyncio.ensure_future(pusher._cycle())
            await eventually_async(lambda: pusher.state == "waiting-for-source", timeout=10, what="waiting for source")
            pusher.stop()
            await task

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("streams", "codecs", "pushed"),
    [
        (((PRIVATE, SAV1), (AAC, b"")), ["h264"], False),  # AV1, as the workers label it
        (((PRIVATE, SAV1), (AAC, b"")), ["h264", "av1"], True),
        (((HEVC, b""),), ["h264", "hevc"], True),
        (((0x02, b""), (AAC, b"")), ["h264"], True),  # MPEG-2 video: not named, pushed as is
        (((H264, b""),), ["hevc"], False),
    ],
    ids=["av1-refused", "av1-listed", "hevc-listed", "unknown-codec", "h264-not-listed"],
)
def test_the_pusher_pushes_by_the_feeds_video_codec(streams, codecs, pushed):
    async def scenario() -> tuple[list[bool], str]:
        async with Ingest() as ingest:
            pushes: list[bool] = []
            pusher, _ = pusher_of(ingest.url, pushes, videoCodecs=codecs)
            ingest.serving = feed(*streams)
            await pusher._cycle()
            return pushes, pusher.state

    pushes, state = asyncio.run(scenario())
    assert (pushes == [False], state) == (pushed, "connecting" if pushed else "codec-not-accepted")


def test_a_feed_without_a_pmt_is_pushed_as_before():
    async def scenario() -> list[bool]:
        async with Ingest() as ingest:
            pushes: list[bool] = []
            pusher, _ = pusher_of(ingest.url, pushes, noAudioMode="silence")
            ingest.serving = struct.pack(">BHB", SYNC, 0x0100, 0x10).ljust(TS_PACKET, b"\x00") * 4
            await pusher._cycle()
            return pushes

    assert asyncio.run(scenario()) == [False], "unknown tracks: no silence added, the codec unknown"


@pytest.mark.parametrize("started_ago, pace", [(0.0, REJOIN_POLL_SECONDS), (REJOIN_SECONDS + 1, 1.0)])
def test_a_target_just_started_asks_a_feed_not_live_at_the_rejoin_pace(
    monkeypatch: pytest.MonkeyPatch, started_ago: float, pace: float
) -> None:
    """A target starts when its stream is live, mostly (a Restream added while live, a pusher's
    handover successor): a feed not live then (an ingest being handed over at that moment) is live
    again within seconds, so it is asked every REJOIN_POLL_SECONDS for REJOIN_SECONDS, as after a
    session's end; later at the idle pace. ci86 (issue 56) lost a second a poll there."""
    monkeypatch.setattr(worker, "FEED_POLL_SECONDS", 1.0)

    async def scenario() -> None:
        async with Ingest() as ingest:
            pusher, _ = pusher_of(ingest.url, [])
            pusher._rejoin_since -= started_ago  # type: ignore[operator]
            slept: list[float] = []

            async def sleep(seconds: float) -> None:
                slept.append(seconds)
                if len(slept) == 3:
                    pusher.stop()

            pusher._sleep = sleep  # type: ignore[method-assign]
            await pusher._wait_for_feed()
            assert ingest.requests == 3 and slept == [pace] * 3

    asyncio.run(scenario())
