"""A TCP portal from the host's loopback into the cluster's network island (devtools.cluster.network).

    python -m devtools.cluster.portal 127.0.0.1:PORT=NETNS/ADDR:PORT [...]

Listens in the root namespace (loopback only) and opens each onward connection inside NETNS: a
socket keeps the namespace it was created in, so this one process bridges both sides without any
interface or route joining them. Like kind's port mapping to its control-plane container, this is
how kubectl, the tests and the demo reach the API server at 10.241.0.2:6443.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from devtools import netns

CHUNK = 1 << 16


@dataclass(frozen=True)
class Mapping:
    listen_host: str
    listen_port: int
    netns: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Mapping:
        listen, _, target = text.partition("=")
        ns, _, address = target.partition("/")
        lhost, _, lport = listen.rpartition(":")
        host, _, port = address.rpartition(":")
        if not (lhost.startswith("127.") and ns and host and lport.isdigit() and port.isdigit()):
            raise ValueError(f"expected 127.x.y.z:PORT=NETNS/ADDR:PORT, got {text!r}")
        return cls(lhost, int(lport), ns, host, int(port))


def _socket_in(ns: str) -> socket.socket:
    with netns.entered(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _serve_one(m: Mapping, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    sock = _socket_in(m.netns)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (m.host, m.port)), timeout=10)
    except (TimeoutError, OSError):
        sock.close()
        writer.close()
        return
    up_reader, up_writer = await asyncio.open_connection(sock=sock)
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        for w in (writer, up_writer):
            with contextlib.suppress(OSError):
                w.close()


async def serve(mappings: Sequence[Mapping]) -> None:
    servers = []
    for m in mappings:

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, m: Mapping = m) -> None:
            await _serve_one(m, r, w)

        servers.append(await asyncio.start_server(handle, m.listen_host, m.listen_port, reuse_address=True))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mappings", nargs="+", help="127.0.0.1:PORT=NETNS/ADDR:PORT")
    args = parser.parse_args(argv)
    try:
        mappings = [Mapping.parse(t) for t in args.mappings]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(mappings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
