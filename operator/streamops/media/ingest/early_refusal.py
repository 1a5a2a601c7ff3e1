"""The public face's first look at a connection (issue 52, finding 2): before aiohttp builds anything
for it, a connection whose peer address has spent its request-rate budget (load_caps.RateBudget)
is answered here, with refusals built once (429 or 503, Retry-After, CORS), one per request head,
on the same connection: no request parsed beyond finding where its head ends, no handler object
made. Once the budget has a token again, at a request's start, the connection is handed to aiohttp
with the bytes not yet answered. A request with a body, HTTP/1.0 or `Connection: close`, a head past
HEAD_BYTES, or a connection idle for IDLE_SECONDS is answered (if due) and closed: nothing here
frames more than a bodiless HTTP/1.1 request.

Why not close each refused connection: a flood that reconnects costs an accept and a close per
request (≈ 140 µs of CPU on loopback, measured), a refusal on an open connection ≈ 10 µs, less than
writing one 20 ms batch of the feed to one reader (≈ 35 µs). The caps' middleware closes a
connection it refuses for its rate, so a flooding keep-alive client ends up here. A peer the playback
gate trusts as a proxy is never refused here (its viewers are told apart by X-Forwarded-For, which
only the middleware reads). Why and the measurements: docs/design/playback.md ("Viewer load and
the recorder").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from streamops.media.ingest.load_caps import REFUSAL_HEADERS, REFUSALS_TOTAL, LoadCaps, TokenBucket
from streamops.media.ingest.worker_http import CORS_HEADERS

ProtocolFactory = Callable[[], asyncio.BaseProtocol]

HEAD_BYTES = 16 * 1024  # aiohttp's own limit on a request line and its headers is 8 KiB each
IDLE_SECONDS = 15.0  # a connection here with no complete request for this long is closed
PAUSE_SECONDS = 1.0  # a connection past REFUSALS_TOTAL is not read for this long

_STATUS_TEXT = {429: "Too Many Requests", 503: "Service Unavailable"}
_END = b"\r\n\r\n"


def raw_refusal(status: int, body: bytes, headers: dict[str, str], close: bool) -> bytes:
    """A whole HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status} {_STATUS_TEXT[status]}", *(f"{name}: {value}" for name, value in headers.items())]
    lines += [f"Content-Length: {len(body)}", *(["Connection: close"] if close else []), "", ""]
    return "\r\n".join(lines).encode() + body


def _must_close(head: bytes) -> bool:
    """A request this module cannot answer and keep framing after: one with a body, or whose
    connection is not to be kept (HTTP/1.0, `Connection: close`)."""
    line_end = head.find(b"\r\n")
    if not head[: line_end if line_end >= 0 else len(head)].endswith(b" HTTP/1.1"):
        return True
    lower = head.lower()
    return b"\ncontent-length:" in lower or b"\ntransfer-encoding:" in lower or b"\nconnection: close" in lower


class Refusals:
    """Each refusal reason's answer, keeping the connection and closing it, and how many are answered
    a second in all (`budget`)."""

    def __init__(self, caps: LoadCaps, per_second: float = REFUSALS_TOTAL) -> None:
        self.budget = TokenBucket(per_second, per_second, time.monotonic())
        headers = {**REFUSAL_HEADERS, **CORS_HEADERS}  # what the face's own refusals carry
        self.open = {
            reason: raw_refusal(status, body, headers, False) for reason, (status, body) in caps.answers.items()
        }
        self.closing = {
            reason: raw_refusal(status, body, headers, True) for reason, (status, body) in caps.answers.items()
        }


class FirstLook(asyncio.Protocol):
    """A public connection while its peer's budget is spent, and until its first bytes: refused here
    (see the module), else handed to aiohttp's protocol."""

    def __init__(self, inner: ProtocolFactory, caps: LoadCaps, refusals: Refusals) -> None:
        self._inner, self._caps, self._refusals = inner, caps, refusals
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._pending = b""
        self._active = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) else ""
        self._timer = asyncio.get_running_loop().call_later(IDLE_SECONDS, self._idle)

    def _idle(self) -> None:
        if self._transport is None:
            return
        left = self._active + IDLE_SECONDS - time.monotonic()
        if left <= 0:
            self._transport.close()
        else:
            self._timer = asyncio.get_running_loop().call_later(left, self._idle)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        buffer = self._pending + data if self._pending else data
        start = 0
        while True:
            reason = self._caps.spent(self._peer)
            if reason is None:
                self._hand_over(transport, buffer[start:])
                return
            end = buffer.find(_END, start)
            if end < 0:
                break
            head = buffer[start:end]
            if not self._refusals.budget.take(time.monotonic()):
                self._pause(transport, buffer[start:])
                return
            self._caps.count(reason)
            if _must_close(head):
                transport.write(self._refusals.closing[reason])
                self._close(transport)
                return
            transport.write(self._refusals.open[reason])
            self._active = time.monotonic()
            start = end + len(_END)
        self._pending = buffer[start:]
        if len(self._pending) > HEAD_BYTES:
            self._close(transport)

    def _pause(self, transport: asyncio.Transport, pending: bytes) -> None:
        """Past the refusals' budget: nothing is read from this connection for PAUSE_SECONDS."""
        self._pending = pending
        transport.pause_reading()
        asyncio.get_running_loop().call_later(PAUSE_SECONDS, self._resume)

    def _resume(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()
            self.data_received(b"")

    def _hand_over(self, transport: asyncio.Transport, data: bytes) -> None:
        self._stop_timer()
        inner = self._inner()
        assert isinstance(inner, asyncio.Protocol)
        self._transport, self._pending = None, b""
        transport.set_protocol(inner)
        inner.connection_made(transport)
        if data:
            inner.data_received(data)

    def _close(self, transport: asyncio.Transport) -> None:
        self._pending = b""
        transport.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def eof_received(self) -> bool:
        return False  # the client is done: nothing more to answer

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self._transport = None


class FirstLookSite(web.TCPSite):
    """A TCPSite whose connections get a FirstLook first."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, caps: LoadCaps, refusals: Refusals) -> None:
        super().__init__(runner, host, port)
        self._caps, self._refusals = caps, refusals

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        caps, refusals = self._caps, self._refusals
        self._server = await asyncio.get_running_loop().create_server(
            lambda: FirstLook(server, caps, refusals), self._host, self._port, backlog=self._backlog
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]


async def serve_public(
    app: web.Application, host: str, port: int, caps: LoadCaps, refusals_per_second: float = REFUSALS_TOTAL
) -> web.AppRunner:
    """worker_http.serve for the public face: its connections get a FirstLook first."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await FirstLookSite(runner, host, port, caps, Refusals(caps, refusals_per_second)).start()
    return runner
