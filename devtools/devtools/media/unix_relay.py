"""A TCP → UNIX-socket relay: bytes both ways, one UNIX connection per TCP connection.

The S3 server of the tests (devtools.media.s3_server) listens on 127.0.0.1 and on a file-backed UNIX
socket. A UNIX socket is reached through the file system, which network namespaces share, so this
relay, run inside the local cluster's outside namespace (`nsenter --net=… python -m
devtools.media.unix_relay --listen 10.241.0.1:9443 --to /tmp/…/s3.sock`), lets Pods reach that server on
the cluster's LAN while the host process itself still listens on loopback only. TLS passes through
untouched (the server terminates it). Stopped by SIGTERM (its default action: nothing to flush).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

CHUNK = 256 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close: an HTTP client that finished its request still reads."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def _relay(socket_path: str, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
    try:
        up_r, up_w = await asyncio.open_unix_connection(socket_path)
    except OSError:
        client_w.close()  # the server is down (stopped by a test): the client sees a reset, as from S3
        return
    try:
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))
    finally:
        for w in (up_w, client_w):
            w.close()


async def serve(host: str, port: int, socket_path: str) -> None:
    server = await asyncio.start_server(lambda r, w: _relay(socket_path, r, w), host, port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="ADDRESS:PORT to accept TCP connections on")
    parser.add_argument("--to", required=True, help="path of the UNIX socket to connect each one to")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port), args.to))


if __name__ == "__main__":
    main()
