"""A kubelet's port-forward endpoint for the cluster tier, which runs no kubelet: `kubectl port-forward`
to a Pod bound to the Node registered here works end to end, kubectl → kube-apiserver → this server →
the Pod's port on 127.0.0.1 (where the tier runs its Pods' processes: devtools.cluster.local_pods).

What a kube-apiserver sends a kubelet for pods/portforward (kubectl's WebSocket tunnel included: the
API server passes the SPDY inside it on): an HTTPS request `/portForward/<namespace>/<pod>` upgraded
to SPDY/3.1 with protocol portforward.k8s.io; then per forwarded connection the client opens two
streams whose headers say `streamtype` error|data, `port` and `requestid`, and the data stream's bytes
are the connection's. The header blocks are zlib with SPDY/3's dictionary. No flow control: the
client (Go's spdystream) sends no WINDOW_UPDATE and ignores those it gets. The API server does not
verify a kubelet's certificate unless told a CA (--kubelet-certificate-authority; the tier sets none).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.pki import new_ca, sign_server
from devtools.ports import free_port

# SPDY/3's header compression dictionary (the SPDY/3 draft, section 2.6.10.1): these words, each
# after its length as 4 bytes, then one string.
_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()
# zlib checks the dictionary by this sum: a wrong one fails every header block the client sends.
DICTIONARY_ADLER32 = 0xE3C6A7C2

SPDY_VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5
CHUNK = 32 * 1024
PROTOCOL = "portforward.k8s.io"
HEARTBEAT_SECONDS = 10.0


def header_block(decompressor: Any, block: bytes) -> dict[str, str]:
    """A SYN_STREAM's name/value pairs (names are lower case in SPDY/3)."""
    raw = decompressor.decompress(block)
    (count,) = struct.unpack_from(">I", raw, 0)
    at, pairs = 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", raw, at)
        name = raw[at + 4 : at + 4 + n].decode()
        at += 4 + n
        (n,) = struct.unpack_from(">I", raw, at)
        pairs[name] = raw[at + 4 : at + 4 + n].decode()
        at += 4 + n
    return pairs


def control_frame(kind: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHI", 0x8000 | SPDY_VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, flags: int = 0) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


@dataclass
class _Forward:
    """One forwarded connection's data stream, once the Pod's port answered."""

    writer: asyncio.StreamWriter
    pump: asyncio.Task[None] | None = None


@dataclass
class _Session:
    """One upgraded SPDY connection from the API server."""

    writer: asyncio.StreamWriter
    decompressor: Any = field(default_factory=lambda: zlib.decompressobj(zdict=DICTIONARY))
    compressor: Any = field(default_factory=lambda: zlib.compressobj(zdict=DICTIONARY))
    forwards: dict[int, _Forward] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # requestid -> the error stream's id

    def send(self, frame: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame)

    def reply(self, stream_id: int) -> None:
        empty = self.compressor.compress(struct.pack(">I", 0)) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        self.send(control_frame(SYN_REPLY, struct.pack(">I", stream_id) + empty))


class PortForwardKubelet:
    """The HTTPS/SPDY server (a thread with its own event loop) and the Node that names it. Forwards a
    Pod's port N to 127.0.0.1:N: the tier's Pods are processes on the host (hostNetwork)."""

    def __init__(self, cluster: Any, workdir: Path, node: str = "port-forward-node") -> None:
        self.cluster, self.workdir, self.node = cluster, workdir, node
        self.port = 0
        self.forwarded: list[tuple[str, int]] = []  # ("<namespace>/<pod>", port) per data stream
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._stopping = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # ---------------------------------------------------------------------------- lifecycle
    def start(self) -> PortForwardKubelet:
        assert zlib.adler32(DICTIONARY) == DICTIONARY_ADLER32
        pki = self.workdir / "kubelet-pki"
        new_ca(pki, "port-forward-kubelet-ca")
        now = datetime.now(UTC)
        cert, key = sign_server(pki, "kubelet", ("127.0.0.1",), now - timedelta(minutes=5), now + timedelta(days=1))
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.port = free_port()
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._connection, "127.0.0.1", self.port, ssl=context)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="port-forward-kubelet", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the port-forward kubelet did not start")
        self.register_node()
        self._heartbeat = threading.Thread(target=self._beat, name="port-forward-kubelet-heartbeat", daemon=True)
        self._heartbeat.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout=10)
        with contextlib.suppress(Exception):
            self.cluster.kubectl("delete", "node", self.node, "--ignore-not-found", "--wait=false")
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> PortForwardKubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bind(self, namespace: str, pod: str) -> None:
        """Bind a Pod to this Node, as the scheduler would (the tier runs none)."""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
        }
        self.cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(binding))

    def register_node(self) -> None:
        """The Node whose kubelet is this server: Hostname 127.0.0.1 (the tier's API server prefers
        Hostname addresses), the kubelet port, Ready."""
        self.cluster.core.create_node(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node, "labels": {"streamops.dev/test": "1"}}}
        )
        self._post_status()

    def _beat(self) -> None:
        """Ready renewed every HEARTBEAT_SECONDS, as a kubelet posts it: the node lifecycle controller
        would call a silent node unreachable after its grace period and evict its Pods."""
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):
                self._post_status()

    def _post_status(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {
            "addresses": [{"type": "Hostname", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "port-forward stand-in",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
        }
        self.cluster.core.patch_node_status(self.node, {"status": status}, _content_type="application/merge-patch+json")

    # ---------------------------------------------------------------------------- protocol
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request, *lines = head.decode("latin-1").split("\r\n")
            _method, path, _ = request.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            parts = path.split("?")[0].strip("/").split("/")
            protocols = [p.strip() for p in headers.get("x-stream-protocol-version", "").split(",")]
            if parts[0] != "portForward" or len(parts) < 3 or "spdy/3.1" not in headers.get("upgrade", "").lower():
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if PROTOCOL not in protocols:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            pod = f"{parts[1]}/{parts[2]}"
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                b"X-Stream-Protocol-Version: " + PROTOCOL.encode() + b"\r\n\r\n"
            )
            session = _Session(writer)
            await self._frames(pod, session, reader)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _frames(self, pod: str, session: _Session, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readexactly(8)
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                payload = await reader.readexactly(length) if length else b""
                if first & 0x80000000:
                    kind = first & 0xFFFF
                    if kind == SYN_STREAM:
                        await self._open(pod, session, payload)
                    elif kind == RST_STREAM:
                        (stream_id,) = struct.unpack_from(">I", payload)
                        self._close(session, stream_id & 0x7FFFFFFF)
                    elif kind == PING:
                        session.send(control_frame(PING, payload))
                    elif kind == GOAWAY:
                        return
                    # SETTINGS, HEADERS, WINDOW_UPDATE: nothing to do for port forwarding
                else:
                    forward = session.forwards.get(first & 0x7FFFFFFF)
                    if forward is not None:
                        if payload:
                            forward.writer.write(payload)
                            await forward.writer.drain()
                        if flags & FLAG_FIN and forward.writer.can_write_eof():
                            forward.writer.write_eof()
        finally:
            for stream_id in list(session.forwards):
                self._close(session, stream_id)

    async def _open(self, pod: str, session: _Session, payload: bytes) -> None:
        (stream_id,) = struct.unpack_from(">I", payload, 0)
        stream_id &= 0x7FFFFFFF
        headers = header_block(session.decompressor, payload[10:])
        session.reply(stream_id)
        kind, port = headers.get("streamtype"), int(headers.get("port") or 0)
        if kind == "error":
            session.errors[headers.get("requestid", "")] = stream_id
            return
        if kind != "data":
            return
        try:
            pod_reader, pod_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as e:
            error_stream = session.errors.get(headers.get("requestid", ""))
            if error_stream is not None:
                message = f"error forwarding port {port} to pod {pod}: {e}".encode()
                session.send(data_frame(error_stream, message, FLAG_FIN))
            session.send(data_frame(stream_id, b"", FLAG_FIN))
            return
        self.forwarded.append((pod, port))
        forward = _Forward(pod_writer)
        session.forwards[stream_id] = forward
        forward.pump = asyncio.create_task(self._pump(session, stream_id, pod_reader))

    async def _pump(self, session: _Session, stream_id: int, pod_reader: asyncio.StreamReader) -> None:
        """The Pod's bytes to the client; FIN when the Pod closes."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await pod_reader.read(CHUNK):
                session.send(data_frame(stream_id, data))
                await session.writer.drain()
        session.send(data_frame(stream_id, b"", FLAG_FIN))

    @staticmethod
    def _close(session: _Session, stream_id: int) -> None:
        forward = session.forwards.pop(stream_id, None)
        if forward is None:
            return
        if forward.pump is not None:
            forward.pump.cancel()
        with contextlib.suppress(Exception):
            forward.writer.close()


@contextlib.contextmanager
def port_forward_kubelet(cluster: Any, workdir: Path, node: str = "port-forward-node") -> Iterator[PortForwardKubelet]:
    kubelet = PortForwardKubelet(cluster, workdir, node).start()
    try:
        yield kubelet
    finally:
        kubelet.stop()
