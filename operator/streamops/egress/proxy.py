"""The overlay renderer's forward proxy on 127.0.0.1: its Chromium sends every request here
(`--proxy-server`, loopback included), so each one a page makes — the document, each redirect hop,
subresources, fetches, WebSockets — is checked: its host must be one of the overlays' hosts and its
address one the policy allows (resolved here, once, and connected to as checked). Plain HTTP comes as
absolute-URI requests, one per upstream connection; https and WebSockets as CONNECT tunnels.

Bounded: connections at once, request head bytes, time to send the head, to connect, and idle time.
A refused request is answered 403 and noted with why (REFUSED, or the host not being allowed); an
upstream that cannot be reached 502, noted with Chromium's name for the error. The renderer reads
these notes to say why a page failed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from streamops.contract.decimal_text import decimal
from streamops.contract.egress_policy import REFUSED, EgressPolicy, EgressRefused
from streamops.egress.resolution import Resolve, checked_addresses, ip_literal, system_resolve

log = logging.getLogger("streamops.egress")

MAX_CONNECTIONS = 64  # a page opens 6 per host; 8 overlays with a few hosts each fit
MAX_HEAD_BYTES = 16 * 1024
HEAD_SECONDS = 10.0
CONNECT_SECONDS = 10.0
IDLE_SECONDS = 300.0  # a quiet live widget's WebSocket or event stream stays open this long
NOT_ALLOWED = "is not in allowedHosts"
NOTES = 256  # the last destinations that failed, with why
CHUNK = 64 * 1024
# Request headers meant for the proxy, or about the client's connection to it (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade")
)

# RFC 9110 5.6.2: a method or a field name. A head with a bare CR or LF (or NUL) in a line, or any
# control character in its request line, is refused: a lenient upstream would read lines the
# hop-by-hop filter never saw (urlsplit drops tabs and line breaks from a URL without a word).
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LINE_BREAK = re.compile(r"[\x00\r\n]")

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[str, int], Awaitable[Streams]]


async def tcp_connect(address: str, port: int) -> Streams:
    return await asyncio.open_connection(address, port)


def host_key(host: str) -> str:
    """A host as the proxy compares it: lower case, no brackets, no trailing dot."""
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


class BadRequest(Exception):
    pass


def split_authority(authority: str) -> tuple[str, int]:
    """CONNECT's "host:port" ("[v6]:port" for IPv6)."""
    host, sep, port_text = authority.rpartition(":")
    port = decimal(port_text)
    if not sep or port is None or not host_key(host) or not 0 < port < 65536:
        raise BadRequest(authority)
    return host_key(host), port


def parsed_head(head: bytes) -> tuple[str, str, int, bytes | None]:
    """A request head → (method, host, port, what to send upstream: None for CONNECT, else the
    request in origin form without the hop-by-hop headers, asking for the connection's close)."""
    request_line, *header_lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    if CONTROL.search(request_line) or any(LINE_BREAK.search(line) for line in header_lines):
        raise BadRequest("a control character in the head")
    method, target, version = request_line.split(" ")
    fields = [line.partition(":") for line in header_lines]
    if not TOKEN.fullmatch(method) or version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(request_line)
    if not all(colon and TOKEN.fullmatch(name) for name, colon, _ in fields):
        raise BadRequest("a header line that is not name: value")
    if method == "CONNECT":
        return (method, *split_authority(target), None)
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname or not host_key(url.hostname) or url.port == 0:
        raise BadRequest(target)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    kept = [h for h, (name, _, _) in zip(header_lines, fields, strict=True) if name.lower() not in HOP_BY_HOP]
    # One request per upstream connection: the answer ends with the connection.
    forwarded = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
    return method, host_key(url.hostname), url.port or 80, forwarded.encode("latin-1")


class GuardProxy:
    """The proxy: `start()` listens on 127.0.0.1 (a free port), `address` is "127.0.0.1:PORT". Also
    the ingest's, for its http(s) and HLS pulls (FFmpeg's `-http_proxy`), with any host."""

    def __init__(
        self,
        policy: EgressPolicy,
        hosts: Iterable[str] | None,
        resolve: Resolve = system_resolve,
        connect: Connect = tcp_connect,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.policy = policy
        # None: any host, each request's address checked (an ingest's http(s) pulls: an HLS origin's
        # segments may be on hosts its playlist names); else the overlays' hosts only.
        self.hosts = None if hosts is None else {host_key(h) for h in hosts}
        self.resolve, self.connect = resolve, connect
        self.max_connections = max_connections
        self.notes: OrderedDict[tuple[str, int], str] = OrderedDict()
        self.reserved_ports: set[int] = set()  # loopback ports no page may reach (its own, CDP's)
        self.refused = 0  # requests refused by the policy so far (an ingest's pull: "refused by policy")
        self.active = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD_BYTES)
        self.reserved_ports.add(int(self.address.rpartition(":")[2]))
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def note(self, host: str, port: int) -> str | None:
        """Why the last request to host:port failed here (REFUSED, or Chromium's name of the
        error), None when it did not."""
        return self.notes.get((host_key(host), port))

    def _noted(self, host: str, port: int, why: str | None) -> None:
        key = (host_key(host), port)
        self.notes.pop(key, None)
        if why is not None:
            self.notes[key] = why
            while len(self.notes) > NOTES:
                self.notes.popitem(last=False)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self.active >= self.max_connections or task is None:
            writer.close()
            return
        self.active += 1
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BadRequest):
            pass
        except asyncio.CancelledError:
            # close(): the end of this connection. Not raised on: asyncio's streams would log a
            # cancelled handler as an error (Python 3.11).
            pass
        finally:
            self.active -= 1
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
        except asyncio.LimitOverrunError:
            await self._answer(writer, 431, "Request Header Fields Too Large")
            return
        try:
            method, host, port, forwarded = parsed_head(head)
        except (BadRequest, ValueError):
            await self._answer(writer, 400, "Bad Request")
            return
        why = self._refusal(host, port)
        upstream: Streams | None = None
        if why is None:
            try:
                upstream = await asyncio.wait_for(self._open(host, port), CONNECT_SECONDS)
            except EgressRefused:
                why = REFUSED
            except TimeoutError:
                why = "net::ERR_CONNECTION_TIMED_OUT"
            except ConnectionRefusedError:
                why = "net::ERR_CONNECTION_REFUSED"
            except OSError:
                why = "net::ERR_NAME_NOT_RESOLVED" if ip_literal(host) is None else "net::ERR_CONNECTION_FAILED"
        self._noted(host, port, why)
        if why == REFUSED:
            self.refused += 1
        if upstream is None:
            log.info("proxy: %s %s:%s: %s", method, host, port, why)
            refused = why == REFUSED or (why or "").endswith(NOT_ALLOWED)
            await self._answer(writer, *((403, "Forbidden") if refused else (502, "Bad Gateway")), why or "")
            return
        up_reader, up_writer = upstream
        try:
            if forwarded is None:
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                up_writer.write(forwarded)
            await self._relay(reader, writer, up_reader, up_writer)
        finally:
            up_writer.close()

    def _refusal(self, host: str, port: int) -> str | None:
        if self.hosts is not None and host not in self.hosts:
            return f"{host} {NOT_ALLOWED}"
        return None

    async def _open(self, host: str, port: int) -> Streams:
        """A connection to the first checked address of `host` that answers."""
        error: OSError = EgressRefused()
        for address in await checked_addresses(host, port, self.policy, self.resolve):
            if port in self.reserved_ports and address.is_loopback:
                continue
            try:
                return await self.connect(str(address), port)
            except OSError as e:
                error = e
        raise error

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Bytes both ways until either side ends or both are idle for IDLE_SECONDS."""
        idle = asyncio.Event()  # set by each chunk: the watchdog's heartbeat

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while chunk := await source.read(CHUNK):
                idle.set()
                sink.write(chunk)
                await sink.drain()

        async def watchdog() -> None:
            while True:
                idle.clear()
                try:
                    await asyncio.wait_for(idle.wait(), IDLE_SECONDS)
                except TimeoutError:
                    return

        tasks = [
            asyncio.ensure_future(pipe(reader, up_writer)),
            asyncio.ensure_future(pipe(up_reader, writer)),
            asyncio.ensure_future(watchdog()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, reason: str, body: str = "") -> None:
        data = body.encode()
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(data)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + data
        )
        with contextlib.suppress(OSError):
            await writer.drain()
