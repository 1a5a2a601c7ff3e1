"""The HTTP face of the pusher and the recorder without aiohttp: a small HTTP/1.1 server on asyncio
streams for a handful of fixed routes (/healthz, /readyz, /status, /metrics; the recorder's POST
/start and /stop), keep-alive included (the operator reads /status every 0.5 s on one connection).
Every route but the probes and /metrics asks for the stream's worker credential (`CredentialCheck`:
401 without it, before the route runs).
Requests are small and trusted to be HTTP: request line and headers capped at 16 KiB, a body at
1 MiB; anything else is answered 400 and the connection closed. Why not aiohttp's server (≈13 MiB
of RSS per worker): docs/design/lean-workers.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol

from streamops.contract.http import HEALTH_PATH, METRICS_PATH, READY_PATH, STATUS_PATH
from streamops.contract.worker_credential import CredentialCheck

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

# Imported by neither this module nor the routes until asked: a standby recorder answers with a
# constant /status and an empty /metrics while it waits (contract/standby.py).

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
IDLE_SECONDS = 75.0  # a kept-alive connection with no request this long is closed (aiohttp's default)
TEXT = "text/plain; charset=utf-8"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text format


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = TEXT

    @classmethod
    def text(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text.encode())

    @classmethod
    def json(cls, data: object, status: int = 200) -> Reply:
        return cls(status, json.dumps(data).encode(), "application/json; charset=utf-8")


Route = Callable[[bytes], Awaitable[Reply]]  # the request body in, the reply out
Routes = Mapping[tuple[str, str], Route]  # (method, path) → route; GET routes answer HEAD too


class JsonStatus(Protocol):
    def to_json_dict(self) -> dict[str, object]: ...


def registry_metrics(registry: Callable[[], CollectorRegistry | None]) -> Callable[[], Reply]:
    """/metrics from a prometheus-client registry (imported on the first scrape; none before
    `registry()` has one)."""

    def metrics() -> Reply:
        if (metrics_of := registry()) is None:
            return Reply(200, b"", METRICS_CONTENT_TYPE)
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Reply(200, generate_latest(metrics_of), CONTENT_TYPE_LATEST)

    return metrics


def worker_routes(
    status: Callable[[], JsonStatus | dict[str, object]],
    ready: Callable[[], bool],
    metrics: Callable[[], Reply],
) -> dict[tuple[str, str], Route]:
    """What every worker answers: liveness, readiness, its typed status (a WorkerStatus, or its JSON
    object), its metrics."""

    async def healthz(_: bytes) -> Reply:
        return Reply.text("ok")

    async def readyz(_: bytes) -> Reply:
        return Reply.text("ready") if ready() else Reply.text("not ready", 503)

    async def status_json(_: bytes) -> Reply:
        answer = status()
        return Reply.json(answer if isinstance(answer, dict) else answer.to_json_dict())

    async def metrics_text(_: bytes) -> Reply:
        return metrics()

    return {
        ("GET", HEALTH_PATH): healthz,
        ("GET", READY_PATH): readyz,
        ("GET", STATUS_PATH): status_json,
        ("GET", METRICS_PATH): metrics_text,
    }


class BadRequest(Exception):
    pass


@dataclass
class Request:
    method: str
    path: str
    keep_alive: bool
    body: bytes
    authorization: str | None = None


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """One request from the connection; None when the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial.strip():
            return None
        raise BadRequest("incomplete request") from None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("not an HTTP/1.x request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest("malformed header")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise BadRequest("chunked request bodies are not taken")
    # 1*DIGIT (RFC 9110 8.6): int() alone also takes "+1", "-0" and "1_0" (and raises past 4300 digits).
    declared = headers.get("content-length", "0")
    if not (declared.isascii() and declared.isdigit() and len(declared) <= 12):
        raise BadRequest("bad Content-Length")
    length = int(declared)
    if not 0 <= length <= MAX_BODY_BYTES:
        raise BadRequest("body too large")
    if length and headers.get("expect", "").lower() == "100-continue":  # curl, for bodies over 1 KiB
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(length) if length else b""
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return Request(method, target.split("?", 1)[0], keep_alive, body, headers.get("authorization"))


def response_bytes(reply: Reply, keep_alive: bool, head_only: bool = False) -> bytes:
    reason = HTTPStatus(reply.status).phrase
    head = (
        f"HTTP/1.1 {reply.status} {reason}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else reply.body)


UNAUTHORIZED = Reply.text("the stream's worker credential is required", 401)


async def answer(routes: Routes, request: Request, check: CredentialCheck | None = None) -> Reply:
    """The route's reply; 401 when `check` refuses the request (nothing of the route runs)."""
    method = "GET" if request.method == "HEAD" else request.method
    route = routes.get((method, request.path))
    if route is not None:
        if check is not None and not check.allows(request.path, request.authorization):
            return UNAUTHORIZED
        return await route(request.body)
    if any(path == request.path for _, path in routes):
        return Reply.text("method not allowed", 405)
    return Reply.text("not found", 404)


@dataclass
class SmallHttpServer:
    routes: Routes
    check: CredentialCheck | None = None  # None: no route asks for a credential (tests of the server)
    server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self, host: str, port: int) -> SmallHttpServer:
        self.server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD_BYTES)
        return self

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose for port 0)."""
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader, writer), IDLE_SECONDS)
                except (BadRequest, asyncio.IncompleteReadError) as e:
                    writer.write(response_bytes(Reply.text(f"bad request: {e}", 400), keep_alive=False))
                    break
                if request is None:
                    break
                reply = await answer(self.routes, request, self.check)
                writer.write(response_bytes(reply, request.keep_alive, head_only=request.method == "HEAD"))
                await writer.drain()
                if not request.keep_alive:
                    break
        except (TimeoutError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def cleanup(self) -> None:
        """Stop listening and end every connection (a POST /stop still waiting is cancelled)."""
        if self.server is not None:
            self.server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.wait_closed()


async def serve(routes: Routes, host: str, port: int, check: CredentialCheck | None) -> SmallHttpServer:
    """Start serving `routes` behind `check`; the caller keeps the server and calls `cleanup()`."""
    return await SmallHttpServer(routes, check).start(host, port)
