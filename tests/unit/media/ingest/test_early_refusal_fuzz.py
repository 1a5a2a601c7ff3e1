"""Fuzzed: the first look's framing of a refused connection (media.ingest.early_refusal.FirstLook),
for any bytes in any split: it answers exactly the complete bodiless HTTP/1.1 request heads before
the first it cannot frame, closes at that one, never holds more than HEAD_BYTES of an unfinished
head, and never raises. Settings: tests/unit/conftest.py."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from streamops.media.ingest.early_refusal import _END, HEAD_BYTES, FirstLook, Refusals, _must_close
from streamops.media.ingest.load_caps import LoadCaps, RateBudget


class Wire(asyncio.Transport):
    """What FirstLook writes, and whether it closed (a transport with no socket behind it)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("198.51.100.7", 40000) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


GET = b"GET /hls/cmaf/index.m3u8 HTTP/1.1\r\nHost: ingest\r\n\r\n"
pieces = st.sampled_from(
    [GET, b"GET /a HTTP/1.0\r\n\r\n", b"POST /whep HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"\r\n", b"\r\n\r\n",
     b"HEAD / HTTP/1.1\r\nConnection: Close\r\n\r\n", b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"]
) | st.binary(max_size=64)  # fmt: skip


@given(st.lists(pieces, max_size=12), st.lists(st.integers(1, 200), max_size=12))
def test_a_refused_connections_bytes_are_framed_or_closed(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    caps = LoadCaps(CollectorRegistry(), {"stream": "cam", "role": "primary"})
    caps.rate = RateBudget(1, 1, lambda: 0.0)
    caps.rate.take("198.51.100.7")  # spent, and never refilled (the clock stands still)
    refusals = Refusals(caps, per_second=1e9)

    async def feed() -> Wire:
        look = FirstLook(lambda: asyncio.Protocol(), caps, refusals)
        wire = Wire()
        look.connection_made(wire)
        at = 0
        for cut in [*cuts, len(data)]:
            if wire.closed:
                break
            look.data_received(data[at : at + cut])
            at += cut
            assert len(look._pending) <= HEAD_BYTES + 200
        look.connection_lost(None)
        return wire

    wire = asyncio.run(feed())
    heads, start, closes = 0, 0, False
    while (end := data.find(_END, start)) >= 0:
        heads += 1
        if _must_close(data[start:end]):
            closes = True
            break
        start = end + len(_END)
    assert len(wire.written) == heads, (heads, wire.written)
    assert all(w == refusals.open["rate_client_cap"] for w in wire.written[: heads - closes])
    if closes:
        assert wire.closed and wire.written[-1] == refusals.closing["rate_client_cap"]
    assert caps.refused["rate_client_cap"] == heads
