"""The public face's first look (streamops.media.ingest.early_refusal), on a real listener and raw
sockets: a peer that spent its rate budget is answered 429 on its open connection, one refusal per
request head (pipelined too), without aiohttp seeing the requests; once the budget refills, the
same connection is handed to aiohttp; requests it cannot frame (a body, HTTP/1.0), an endless head,
and a trusted proxy's requests are not answered here; past the refusals' own budget the connection
is not read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry
from streamops.media.ingest import early_refusal
from streamops.media.ingest.early_refusal import HEAD_BYTES, serve_public
from streamops.media.ingest.load_caps import Limits, LoadCaps, RateBudget
from streamops.media.ingest.worker_http import public_app

GET = b"GET /ok HTTP/1.1\r\nHost: ingest\r\n\r\n"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def caps_with(clock: Clock, per_client: float = 2, proxy: str = "") -> LoadCaps:
    caps = LoadCaps(
        CollectorRegistry(),
        {"stream": "cam", "role": "primary"},
        Limits(rate_per_client=per_client),
        proxy=lambda peer: peer == proxy,
    )
    caps.rate = RateBudget(per_client, 1e9, clock)
    return caps


Scenario = Callable[[int, list[str]], Awaitable[None]]


def serving(caps: LoadCaps, scenario: Scenario, refusals_per_second: float = 1000) -> None:
    """`scenario(port, handled)` against the public face with `caps` and a route /ok; `handled`: the
    requests aiohttp's handler saw."""
    handled: list[str] = []

    async def ok(request: web.Request) -> web.Response:
        handled.append(request.path)
        return web.Response(text="ok")

    async def run() -> None:
        app = public_app(lambda: True, caps.public_middleware)
        app.router.add_get("/ok", ok)
        runner = await serve_public(app, "127.0.0.1", 0, caps, refusals_per_second)
        try:
            await scenario(runner.addresses[0][1], handled)
        finally:
            await runner.cleanup()

    asyncio.run(run())


async def answers(reader: asyncio.StreamReader, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` HTTP/1.1 responses with Content-Length: status, headers, body."""
    got = []
    for _ in range(count):
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        lines = head.split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        body = await reader.readexactly(int(headers["Content-Length"]))
        got.append((int(lines[0].split()[1]), headers, body))
    return got


def test_a_spent_peer_is_refused_on_its_open_connection_then_handed_to_aiohttp_when_it_refills():
    clock = Clock()
    caps = caps_with(clock)

    async def scenario(port: int, handled: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET * 2)  # the budget's two tokens: aiohttp serves them
        assert [a[0] for a in await answers(reader, 2)] == [200, 200]
        writer.write(GET)  # refused by the middleware, which closes the connection
        [(status, headers, _)] = await answers(reader, 1)
        assert (status, headers.get("Connection")) == (429, "close")
        assert await reader.read() == b""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET * 5)  # pipelined: five refusals, here, on the connection kept open
        refused = await answers(reader, 5)
        assert {(s, h["Retry-After"], h["Access-Control-Allow-Origin"]) for s, h, _ in refused} == {(429, "1", "*")}
        assert "Connection" not in refused[0][1] and refused[0][2].startswith(b"this ingest is at its rate client cap")
        assert handled == ["/ok", "/ok"], "aiohttp never saw them"
        clock.now += 0.5  # one token back: the same connection goes to aiohttp
        writer.write(GET)
        assert [(a[0], a[2]) for a in await answers(reader, 1)] == [(200, b"ok")]
        assert len(handled) == 3
        writer.close()

    serving(caps, scenario)
    assert caps.refused == {"rate_client_cap": 6}


def test_requests_it_cannot_frame_are_answered_and_closed():
    clock = Clock()
    caps = caps_with(clock, per_client=1)

    async def scenario(port: int, handled: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET)
        assert [a[0] for a in await answers(reader, 1)] == [200]
        for request in (
            b"POST /ok HTTP/1.1\r\nHost: ingest\r\nContent-Length: 4\r\n\r\nbody",
            b"GET /ok HTTP/1.0\r\n\r\n",
            b"GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            [(status, headers, _)] = await answers(reader, 1)
            assert (status, headers.get("Connection")) == (429, "close"), request
            assert await reader.read() == b""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * (HEAD_BYTES + 10))  # a head that never ends
        assert await asyncio.wait_for(reader.read(), 10) == b""
        assert handled == ["/ok"]

    serving(caps, scenario)


def test_a_trusted_proxys_connections_always_reach_the_middleware():
    clock = Clock()
    caps = caps_with(clock, per_client=1, proxy="127.0.0.1")

    async def scenario(port: int, handled: list[str]) -> None:
        for address in ("192.0.2.1", "192.0.2.2"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /ok HTTP/1.1\r\nHost: ingest\r\nX-Forwarded-For: {address}\r\n\r\n".encode())
            assert [a[0] for a in await answers(reader, 1)] == [200], "each viewer behind it has its own budget"
            writer.close()
        assert len(handled) == 2

    caps.client = lambda request: request.headers.get("X-Forwarded-For", "")
    serving(caps, scenario)


def test_past_the_refusals_own_budget_a_connection_is_not_read_for_a_while(monkeypatch):
    monkeypatch.setattr(early_refusal, "PAUSE_SECONDS", 0.3)
    clock = Clock()
    caps = caps_with(clock, per_client=1)

    async def scenario(port: int, handled: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET)
        assert [a[0] for a in await answers(reader, 1)] == [200]
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET * 12)
        assert [a[0] for a in await answers(reader, 10)] == [429] * 10, "the refusals' burst"
        paused = asyncio.get_running_loop().time()
        assert [a[0] for a in await answers(reader, 2)] == [429] * 2, "answered once read again"
        assert asyncio.get_running_loop().time() - paused >= 0.25, "not read meanwhile"
        writer.close()

    serving(caps, scenario, refusals_per_second=10)
