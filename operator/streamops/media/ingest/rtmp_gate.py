"""The RTMP front door: checks a publisher's stream key in its publish commands, masks it (same
length) before FFmpeg's loopback listener sees it, then relays the bytes. Cuts a publisher idle for
`idle_timeout`, asks the ingest where to relay each newcomer (`admit`), and serves RTMPS as a second,
TLS-terminating listener (tls_reload.py) with the same check.
Why: docs/design/ingest-robustness.md ("The RTMP gate"), rtmps.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from streamops.media.ingest.tls_reload import HANDSHAKE_TIMEOUT_SECONDS, CertificateReloader

HANDSHAKE_BYTES = 1537 + 1536  # C0+C1, then C2
KEY_COMMANDS = {b"releaseStream", b"FCPublish", b"publish"}
COMMAND_AMF0, COMMAND_AMF3, SET_CHUNK_SIZE = 20, 17, 1
MASK = b"*"


class Verdict(Enum):
    PENDING = "pending"
    PUBLISH = "publish"  # key accepted on `publish`: relay the rest as is
    REFUSE = "refuse"


@dataclass
class _ChunkStream:
    length: int = 0
    type_id: int = 0
    remaining: int = 0
    extended_ts: bool = False
    payload: bytearray = field(default_factory=bytearray)
    spans: list[tuple[int, int]] = field(default_factory=list)  # (offset in held bytes, length)
    held: bool = False


def _amf0_string_at(payload: bytes, pos: int) -> tuple[bytes, int, int] | None:
    """(value, offset of the value, next position) of an AMF0 string at pos."""
    if pos + 3 > len(payload) or payload[pos] != 0x02:
        return None
    (n,) = struct.unpack_from(">H", payload, pos + 1)
    return payload[pos + 3 : pos + 3 + n], pos + 3, pos + 3 + n


def _skip_amf0(payload: bytes, pos: int) -> int:
    """Position after the AMF0 value at pos (numbers, null, strings are all commands carry here)."""
    marker = payload[pos]
    if marker == 0x00:
        return pos + 9
    if marker in (0x05, 0x06):
        return pos + 1
    if marker == 0x02:
        length: int = struct.unpack_from(">H", payload, pos + 1)[0]
        return pos + 3 + length
    raise ValueError(f"unexpected AMF0 marker {marker}")


def stream_name(payload: bytes) -> tuple[bytes, bytes, int] | None:
    """(command, stream name, offset of the name in the payload) of a key-carrying command."""
    start = 1 if payload[:1] == b"\x00" else 0  # AMF3 command messages start with a 0 byte
    command = _amf0_string_at(payload, start)
    if command is None or command[0] not in KEY_COMMANDS:
        return None
    pos = _skip_amf0(payload, command[2])  # transaction id
    pos = _skip_amf0(payload, pos)  # command object (null)
    name = _amf0_string_at(payload, pos)
    return (command[0], name[0], name[1]) if name else None


class PublishInspector:
    """Pure byte-stream state machine for the client→server direction. `feed()` returns the
    bytes that may be forwarded now and the verdict so far."""

    def __init__(self, key_matches: Callable[[bytes], bool]) -> None:
        self._key_matches = key_matches
        self._buffer = bytearray()  # not yet parsed
        self._held = bytearray()  # parsed, but behind a held key-carrying message
        self._chunk_size = 128
        self._streams: dict[int, _ChunkStream] = {}
        self._handshake_left = HANDSHAKE_BYTES
        self._holding = 0  # messages held back right now
        self.verdict = Verdict.PENDING
        self.name_seen: bytes | None = None

    def feed(self, data: bytes) -> tuple[bytes, Verdict]:
        if self.verdict is not Verdict.PENDING:
            return (data if self.verdict is Verdict.PUBLISH else b""), self.verdict
        out = bytearray()
        if self._handshake_left:
            take = min(self._handshake_left, len(data))
            out += data[:take]
            self._handshake_left -= take
            data = data[take:]
        self._buffer += data
        verdict = self._parse(out)
        if verdict is Verdict.PUBLISH:
            out += self._buffer  # the rest is media: no more parsing
            self._buffer.clear()
        if verdict is Verdict.REFUSE:
            return b"", verdict
        return bytes(out), verdict

    def _parse(self, out: bytearray) -> Verdict:
        """Parse whole chunks until the bytes run out or there is a verdict."""
        while self.verdict is Verdict.PENDING and self._parse_chunk(out):
            pass
        return self.verdict

    def _parse_chunk(self, out: bytearray) -> bool:
        buf = self._buffer
        if not buf:
            return False
        fmt, csid, pos = buf[0] >> 6, buf[0] & 0x3F, 1
        if csid == 0:
            if len(buf) < 2:
                return False
            csid, pos = 64 + buf[1], 2
        elif csid == 1:
            if len(buf) < 3:
                return False
            csid, pos = 64 + buf[1] + 256 * buf[2], 3
        cs = self._streams.setdefault(csid, _ChunkStream())
        header = (11, 7, 3, 0)[fmt]
        if len(buf) < pos + header:
            return False
        if fmt < 3:
            timestamp = int.from_bytes(buf[pos : pos + 3], "big")
            extended = timestamp == 0xFFFFFF
        else:
            extended = cs.extended_ts
        length, type_id = cs.length, cs.type_id
        if fmt <= 1:
            length = int.from_bytes(buf[pos + 3 : pos + 6], "big")
            type_id = buf[pos + 6]
        pos += header + (4 if extended else 0)
        starts_message = cs.remaining == 0
        size = min(self._chunk_size, length if starts_message else cs.remaining)
        if len(buf) < pos + size:
            return False
        # The whole chunk is here: commit it.
        cs.extended_ts = extended
        if starts_message:
            cs.length, cs.type_id, cs.remaining = length, type_id, length
            cs.payload, cs.spans = bytearray(), []
            cs.held = type_id in (COMMAND_AMF0, COMMAND_AMF3) and self._carries_key(buf[pos : pos + size], type_id)
            if cs.held:
                self._holding += 1
        target = self._held if (self._holding or cs.held) else out
        base = len(target) + pos
        target += buf[: pos + size]
        if cs.held:
            cs.spans.append((base, size))
        cs.payload += buf[pos : pos + size]
        cs.remaining -= size
        del buf[: pos + size]
        if cs.remaining == 0:
            self._message_done(cs, out)
        return True

    @staticmethod
    def _carries_key(first_chunk: bytes | bytearray, type_id: int) -> bool:
        start = 1 if type_id == COMMAND_AMF3 else 0
        return any(first_chunk[start + 3 : start + 3 + len(c)] == c for c in KEY_COMMANDS)

    def _message_done(self, cs: _ChunkStream, out: bytearray) -> None:
        if cs.type_id == SET_CHUNK_SIZE and len(cs.payload) >= 4:
            self._chunk_size = struct.unpack(">I", cs.payload[:4])[0] & 0x7FFFFFFF
        if not cs.held:
            return
        cs.held = False
        self._holding -= 1
        found = stream_name(bytes(cs.payload))
        if found is None:
            self.verdict = Verdict.REFUSE
            return
        command, name, offset = found
        self.name_seen = name
        if not self._key_matches(name.split(b"?", 1)[0]):
            self.verdict = Verdict.REFUSE
            return
        self._mask(cs, offset, len(name))
        if self._holding == 0:
            out += self._held
            self._held.clear()
        if command == b"publish":
            self.verdict = Verdict.PUBLISH

    def _mask(self, cs: _ChunkStream, offset: int, length: int) -> None:
        """Overwrite payload bytes [offset, offset+length) where they sit in the held bytes."""
        seen = 0
        for base, size in cs.spans:
            lo, hi = max(offset, seen), min(offset + length, seen + size)
            if lo < hi:
                start = base + (lo - seen)
                self._held[start : start + (hi - lo)] = MASK * (hi - lo)
            seen += size


@dataclass
class RtmpGate:
    """Listens for publishers; relays the accepted one to FFmpeg's loopback listener."""

    host: str
    port: int | None  # the RTMP listener (None: RTMPS only)
    read_key: Callable[[], bytes | None]
    # The loopback port of the FFmpeg listener a new publisher is relayed to, or None to refuse it
    # (another publisher is live). Asked per connection: a silent session's successor gets a listener
    # of its own (worker.py), so it is accepted before the silent one times out.
    admit: Callable[[], int | None]
    log: logging.Logger
    # A publisher that sends nothing for this long is cut, both sides closed: FFmpeg's RTMP listener
    # sets no read timeout, so a frozen encoder's open connection held the session for minutes.
    idle_timeout: float = 5.0
    tls_port: int | None = None  # the RTMPS listener (with `tls`)
    tls: CertificateReloader | None = None
    refused: int = 0
    # Whether the last publisher accepted came through the RTMPS listener (one publishes at a time:
    # the ingest reads it when that publisher's media starts, for status.sessions[].protocol).
    publishing_tls: bool = False
    _server: asyncio.Server | None = None
    _tls_server: asyncio.Server | None = None
    _tls_watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.port is not None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        if self.tls is not None and self.tls_port is not None:
            self.tls.check()  # the first load; without a certificate handshakes fail until one loads
            self._tls_server = await asyncio.start_server(
                self._handle,
                self.host,
                self.tls_port,
                ssl=self.tls.server_context(),
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT_SECONDS,
            )
            self._tls_watch = asyncio.create_task(self.tls.watch())

    async def close(self) -> None:
        if self._tls_watch:
            self._tls_watch.cancel()
        for server in (self._server, self._tls_server):
            if server:
                server.close()
                await server.wait_closed()

    def _key_matches(self, name: bytes) -> bool:
        key = self.read_key()  # read per publisher: a rotated Secret takes effect at once
        return bool(key) and hmac.compare_digest(name, key or b"")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        port = self.admit()
        if port is None:
            self.refused += 1
            self.log.info("refused RTMP publisher %s: the stream already has a live publisher", peer)
            writer.close()
            return
        upstream = await self._connect_upstream(port)
        if upstream is None:
            self.log.warning("refused RTMP publisher %s: ingest is not listening", peer)
            writer.close()
            return
        up_reader, up_writer = upstream
        inspector = PublishInspector(self._key_matches)
        back = asyncio.create_task(_pump(up_reader, writer))
        try:
            while data := await asyncio.wait_for(reader.read(65536), self.idle_timeout):
                forward, verdict = inspector.feed(data)
                if verdict is Verdict.REFUSE:
                    self.refused += 1
                    self.log.warning("refused RTMP publisher %s: wrong stream key", peer)
                    break
                if forward:
                    up_writer.write(forward)
                    await up_writer.drain()
                if verdict is Verdict.PUBLISH:
                    if inspector.name_seen is not None:
                        self.publishing_tls = writer.get_extra_info("sslcontext") is not None
                        self.log.info("RTMP publisher %s accepted", peer)
                        inspector.name_seen = None
                    ended = await _relay_in_kernel(reader, writer, up_writer, self.idle_timeout)
                    if ended == "idle":
                        raise TimeoutError
                    if ended is not None:
                        break
        except TimeoutError:
            self.log.warning("closed RTMP publisher %s: nothing received for %g s", peer, self.idle_timeout)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            back.cancel()
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    async def _connect_upstream(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        # FFmpeg's listener is restarted between sessions: give it a moment to come back.
        for _ in range(40):
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
        return None


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
SPLICE_POLL_MS = 200  # how soon the relay thread notices a stop
SPLICE_BYTES = 1 << 16  # a pipe's default capacity: at most what one splice moves
# Once what had arrived is moved, the relay lets the next packets gather for this long instead of
# waking for each TCP segment of the publisher (≈130 wakes a second at 2.5 Mbit/s): one wake per
# batch, for up to 20 ms of added latency; FFmpeg then reads each batch at once and wakes less too
# (≈200 → 60–100 context switches a second).
RELAY_BATCH_SECONDS = 0.02


Ending = Literal["publisher", "upstream", "idle"]  # who ended a relay: hung up, or sent nothing


async def _relay_in_kernel(
    reader: asyncio.StreamReader, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter, idle_timeout: float
) -> Ending | None:
    """After `publish` the rest is media: the kernel moves it (splice through a pipe, in a thread)
    instead of asyncio reading and writing every chunk, which cost ≈3% of a core per 2.5 Mbit/s
    publisher. Returns when the publisher or FFmpeg hangs up, or the publisher sent nothing for
    `idle_timeout` s; None where splice is unavailable."""
    client_socket, upstream_socket = client.get_extra_info("socket"), upstream.get_extra_info("socket")
    transport = client.transport  # a socket's: it reads too (StreamWriter types it write-only)
    if not hasattr(os, "splice") or client_socket is None or upstream_socket is None:
        return None
    if client.get_extra_info("ssl_object") is not None:
        return None  # RTMPS: the socket carries TLS records, only asyncio's relay decrypts them
    if not isinstance(transport, asyncio.ReadTransport):
        return None
    transport.pause_reading()
    # What asyncio already holds goes first, in order: read but not consumed, written but not sent.
    pending = _take_buffered(reader)
    if pending:
        upstream.write(pending)
    while upstream.transport.get_write_buffer_size():
        await asyncio.sleep(0.005)
    # The thread works on duplicates: the transports may close their descriptors (and the numbers
    # be reused) before the thread has noticed the stop.
    src, dst = os.dup(client_socket.fileno()), os.dup(upstream_socket.fileno())
    stop = threading.Event()
    try:
        return await asyncio.to_thread(_splice_until_closed, src, dst, stop, idle_timeout)
    finally:
        stop.set()


def _take_buffered(reader: asyncio.StreamReader) -> bytes:
    """The bytes `reader` has read but not handed out, taken without waiting: StreamReader has no
    public call for that, so this reads CPython's private buffer."""
    buffer: bytearray = reader._buffer  # type: ignore[attr-defined]  # private, hence not in typeshed
    pending = bytes(buffer)
    buffer.clear()
    return pending


def _splice_until_closed(src: int, dst: int, stop: threading.Event, idle_timeout: float) -> Ending:
    """socket → pipe → socket until EOF, an error, `stop` or `idle_timeout` s without a byte from
    src; closes src and dst. FFmpeg hanging up is noticed too (POLLRDHUP on dst): when the ingest
    ends a session (a silent one displaced), the publisher's connection must not linger."""
    pipe_r, pipe_w = os.pipe()
    events, writable = select.poll(), select.poll()
    events.register(src, select.POLLIN)
    events.register(dst, select.POLLRDHUP)
    writable.register(dst, select.POLLOUT)
    hangup = select.POLLRDHUP | select.POLLHUP | select.POLLERR
    last_byte = time.monotonic()
    batch = False  # bytes moved since the last pause
    try:
        while not stop.is_set():
            ready = dict(events.poll(0 if batch else SPLICE_POLL_MS))
            if ready.get(dst, 0) & hangup:
                return "upstream"
            if not ready.get(src):
                if batch:  # all that had arrived is moved: let the next packets gather
                    batch = False
                    stop.wait(RELAY_BATCH_SECONDS)
                elif time.monotonic() - last_byte >= idle_timeout:
                    return "idle"
                continue
            try:
                moved = os.splice(src, pipe_w, SPLICE_BYTES, flags=SPLICE_FLAGS)
            except BlockingIOError:
                continue
            if moved == 0:
                return "publisher"  # it hung up
            last_byte, batch = time.monotonic(), True
            while moved and not stop.is_set():
                try:
                    moved -= os.splice(pipe_r, dst, moved, flags=SPLICE_FLAGS)
                except BlockingIOError:
                    writable.poll(SPLICE_POLL_MS)  # FFmpeg is behind: wait for room
        return "upstream"  # stopped: the handler is closing
    except OSError:
        return "publisher"  # reset, broken pipe: either side is gone
    finally:
        for fd in (pipe_r, pipe_w, src, dst):
            os.close(fd)
