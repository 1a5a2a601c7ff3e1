"""A worker's HTTP face on 127.0.0.1 for the operator's clients in unit tests: it answers every
request 200 with one body and counts them (the worker's own protocol stays the worker's; this is
the operator's side of the wire)."""

from __future__ import annotations

import asyncio


class LoopbackWorker:
    """Answers each request (its body read) 200 with `body`, counting them; `start()` gives the port."""

    def __init__(self, body: bytes = b"{}") -> None:
        self.body = body
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
        )
        await reader.readexactly(length)
        self.requests += 1
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(self.body), self.body)
        writer.write(answer)
        await writer.drain()
        writer.close()
