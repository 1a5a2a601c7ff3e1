"""A small Chrome DevTools Protocol client on asyncio: one connection to the browser, pages as flat
sessions on it, commands awaited by id and events handed to a per-session callback. The connection
is a websocket (aiohttp, `connect`: the browser tests' Chromium on a loopback port) or the two pipes
of `--remote-debugging-pipe` (`connect_pipe`: the overlay renderer's, which listens on no port:
with worker.hostNetwork the Pod's loopback is the node's, issue 52 finding 8), each message a JSON
text ended by a NUL byte."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp


class CdpError(RuntimeError):
    """A command answered with an error, or the connection to the browser is gone."""


EventListener = Callable[[str, dict[str, Any]], None]

# A message from the browser at most (a screenshot of a large box is several MB of base64).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class CdpConnection:
    """One connection to the browser: its websocket endpoint (ws://127.0.0.1:PORT/devtools/browser/ID)
    or its DevTools pipes."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str, EventListener] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._commands: asyncio.WriteTransport | None = None
        self._answers: asyncio.ReadTransport | None = None
        self._send: Callable[[str], Awaitable[None]] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed_because: str | None = None

    async def connect(self, ws_url: str) -> None:
        # Imported here: only the browser tests connect by websocket; the renderer's pipes spare it
        # aiohttp (≈12 MiB of RSS, docs/design/lean-workers.md).
        import aiohttp

        self._session = aiohttp.ClientSession(trust_env=False)  # never an environment proxy
        # max_msg_size=0: no limit (a screenshot of a large box exceeds aiohttp's 4 MB default)
        self._ws = ws = await self._session.ws_connect(ws_url, max_msg_size=0)
        self._send = ws.send_str
        self._reader = asyncio.create_task(self._read_ws(ws))

    async def connect_pipe(self, commands: int, answers: int) -> None:
        """`commands`: the end of the pipe the browser reads as its fd 3; `answers`: of the one it
        writes as its fd 4. Both are ours to close from now on (close)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES)
        self._answers, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(answers, "rb", 0)
        )
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(commands, "wb", 0))
        self._commands = transport

        async def send(text: str) -> None:
            transport.write(text.encode() + b"\0")

        self._send = send
        self._reader = asyncio.create_task(self._read_pipe(reader))

    def _dispatch(self, text: str | bytes) -> None:
        data = json.loads(text)
        if "id" in data:
            future = self._pending.pop(data["id"], None)
            if future is not None and not future.done():
                future.set_result(data)
        elif (listener := self._listeners.get(data.get("sessionId", ""))) is not None:
            listener(data.get("method", ""), data.get("params", {}))

    async def _read_ws(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        import aiohttp  # connect() imported it

        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._dispatch(msg.data)
            self.closed_because = f"websocket closed (code {ws.close_code})"
        except Exception as e:  # whatever ends the reader ends the connection
            self.closed_because = f"websocket failed: {e!r}"
        finally:
            self._lost()

    async def _read_pipe(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                self._dispatch((await reader.readuntil(b"\0"))[:-1])
        except asyncio.IncompleteReadError:
            self.closed_because = "the browser closed its DevTools pipe"
        except Exception as e:  # whatever ends the reader ends the connection
            self.closed_because = f"DevTools pipe failed: {e!r}"
        finally:
            self._lost()

    def _lost(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError(f"browser connection lost: {self.closed_because}"))
        self._pending.clear()

    @property
    def alive(self) -> bool:
        if self._ws is not None and self._ws.closed:
            return False
        return self._send is not None and self.closed_because is None

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float | None = 10,
    ) -> dict[str, Any]:
        """Send one command and wait for its result; CdpError when it answers with an error, or
        after `timeout` seconds (None: the caller bounds the wait)."""
        if self._send is None or not self.alive:
            raise CdpError(f"{method}: browser connection lost: {self.closed_because or 'closed'}")
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = future
        try:
            await self._send(json.dumps(message))
            response = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise CdpError(f"{method}: no answer within {timeout:g}s") from None
        finally:
            self._pending.pop(message["id"], None)
        if "error" in response:
            error = response["error"]
            detail = f"{error.get('message')} ({error.get('code')}) {error.get('data', '')}".strip()
            raise CdpError(f"{method}: {detail}")
        return dict(response.get("result", {}))

    def listen(self, session_id: str, listener: EventListener | None) -> None:
        """Events of that session go to listener(method, params); None stops them."""
        if listener is None:
            self._listeners.pop(session_id, None)
        else:
            self._listeners[session_id] = listener

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._commands is not None:
            self._commands.close()  # the browser reads the end of its pipe
        if self._answers is not None:
            self._answers.close()
            if self._reader is not None:
                self._reader.cancel()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 2)
        if self._session is not None:
            await self._session.close()
