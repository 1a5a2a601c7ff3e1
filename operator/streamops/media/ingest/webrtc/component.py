"""The WebRTC component (`streamops-webrtc`, components/webrtc) as the ingest's child process:
`Component` starts it, waits for its control API, starts it again with backoff when it dies, stops
it with the worker, and logs its warnings and errors (redacted, as FFmpeg's output). `ComponentClient`
speaks its control API over a unix socket in the worker's private directory (components/webrtc/README.md,
"Control API"): no other process reaches it, even on the host network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from streamops.media.child_restarts import exit_or_stop, keep_running
from streamops.media.ffmpeg import FfmpegProcess
from streamops.redaction import Redactor

SDP = "application/sdp"
# The component's control headers of a WHEP offer (components/webrtc/whep.go): the client address the
# worker decided on (the key of the per-address offer rate limit and session cap) and, for signed
# playback, the Unix second the session ends (its token's end) and a digest of the token (the key of
# the per-token session cap; never the token). Trusted there because only the worker reaches the
# control API (its socket).
CLIENT_HEADER = "X-Streamops-Client"
SESSION_EXPIRES_HEADER = "X-Streamops-Session-Expires"
TOKEN_HEADER = "X-Streamops-Token-Id"
CONTROL_BASE = "http://streamops-webrtc"  # the host is a name only: the connection is the socket
# What of the component's answer headers reaches the client (429 and 503 say when to come back).
PASSED_HEADERS = ("Retry-After",)
READY_TIMEOUT_SECONDS = 10.0  # start → control API answers (measured ≈20 ms on a quiet machine)
EXIT_PORT_TAKEN = 1  # the component's exit code when it cannot bind a port
# The control API answers at once, but an offer waits for candidate gathering (host candidates only:
# milliseconds); a busy node gets a few seconds before the publisher or viewer is told 503.
CONTROL_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=2)


@dataclass(frozen=True)
class ControlReply:
    """One answer of the control API (or the worker's own, in the same shape)."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, headers: dict[str, str] | None = None) -> ControlReply:
        return cls(status, (text + "\n").encode(), headers=headers or {})


UNAVAILABLE = ControlReply.text(503, "the WebRTC component is not running", {"Retry-After": "2"})


@dataclass(frozen=True)
class WhepViewer:
    """What the worker tells the component of a WHEP offer's viewer (the control headers): `client`,
    its address (offers rate limited and sessions capped per address; None: neither); `session_end`,
    Unix seconds at which the component ends the session (a signed playback token's end; None: never);
    `token_id`, the token's digest (sessions capped per token; None: public playback)."""

    client: str | None = None
    session_end: int | None = None
    token_id: str | None = None

    def headers(self) -> dict[str, str]:
        found = {CLIENT_HEADER: self.client or "", TOKEN_HEADER: self.token_id or ""}
        if self.session_end is not None:
            found[SESSION_EXPIRES_HEADER] = str(self.session_end)
        return {name: value for name, value in found.items() if value}


class ComponentClient:
    """The control API on the unix socket `socket`."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._session: aiohttp.ClientSession | None = None
        self._closed = False  # the worker stops: no new connection (nobody would close it)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=str(self.socket)), timeout=CONTROL_TIMEOUT, raise_for_status=False
            )
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> ControlReply:
        if self._closed:
            return UNAVAILABLE
        headers = {"Content-Type": content_type} if content_type else {}
        headers.update(extra or {})
        try:
            async with self._http().request(method, CONTROL_BASE + path, data=body, headers=headers) as response:
                return ControlReply(
                    status=response.status,
                    body=await response.read(),
                    content_type=response.headers.get("Content-Type", "text/plain; charset=utf-8"),
                    location=response.headers.get("Location"),
                    headers={name: response.headers[name] for name in PASSED_HEADERS if name in response.headers},
                )
        except (aiohttp.ClientError, TimeoutError):
            return UNAVAILABLE

    async def post_whip(self, offer: bytes, content_type: str) -> ControlReply:
        return await self._request("POST", "/whip", offer, content_type)

    async def post_whep(self, offer: bytes, content_type: str, viewer: WhepViewer | None = None) -> ControlReply:
        """`viewer`: None for a local caller (no control header)."""
        return await self._request("POST", "/whep", offer, content_type, viewer.headers() if viewer else None)

    async def delete(self, resource: str) -> ControlReply:
        """DELETE a session resource, as the component named it (`/whip/<id>`, `/whep/<id>`)."""
        return await self._request("DELETE", resource)

    async def keyframe(self) -> ControlReply:
        """Ask the WHIP publisher for a keyframe (204; 404 no publisher; 409 no video track yet)."""
        return await self._request("POST", "/whip/keyframe")

    async def status(self) -> dict[str, Any] | None:
        reply = await self._request("GET", "/status")
        if reply.status != 200:
            return None
        try:
            found = json.loads(reply.body)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()


class Component:
    """The component's process, kept running: `command()` gives its argv at each start (addresses
    resolved then); `repick()` is called after it could not bind a port, so the next start picks
    new loopback ports. `running`: its control API answered and it has not exited since;
    `generation` counts the starts that answered (what feeds it restarts with a new one)."""

    def __init__(
        self,
        command: Callable[[], Awaitable[list[str]]],
        repick: Callable[[], None],
        client: ComponentClient,
        redact: Redactor,
        log: logging.Logger,
    ) -> None:
        self.command, self.repick, self.client, self.redact, self.log = command, repick, client, redact, log
        self.process: FfmpegProcess | None = None
        self.running = False
        self.generation = 0
        self.error: str | None = "not started yet"

    def _failed(self, error: str) -> None:
        self.error = self.redact(error)
        self.log.error("%s", self.error)

    def _exited(self, rc: int) -> None:
        if rc == EXIT_PORT_TAKEN:
            self.repick()

    def _stderr(self, line: str) -> None:
        # slog text lines: "time=… level=WARN msg=…". Info lines (sessions coming and going) stay at
        # debug with the rest of the child's output (-v).
        if "level=WARN" in line or "level=ERROR" in line:
            self.log.warning("webrtc component: %s", line)

    async def _answers(self, process: FfmpegProcess) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while process.running and time.monotonic() < deadline:
            if await self.client.status() is not None:
                return True
            await asyncio.sleep(0.05)
        return False

    async def _run_once(self, stopping: asyncio.Event) -> int | None:
        """One run; its exit code (None: stopped by us)."""
        argv = await self.command()
        process = self.process = FfmpegProcess("webrtc", argv, self.redact, self.log, on_stderr=self._stderr)
        await process.start()
        try:
            if await self._answers(process):
                self.running, self.error = True, None
                self.generation += 1
                self.log.info("webrtc component running (pid %s)", process.pid)
            return await exit_or_stop(process.wait(), stopping)
        finally:
            self.running = False
            await process.stop(grace=3)

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            await keep_running(
                lambda: self._run_once(stopping),
                stopping,
                "the WebRTC component",
                lambda: self.process.last_error() if self.process else "",
                self._failed,
                self._exited,
            )
        finally:
            self.running = False
            if self.process is not None:
                await self.process.stop(grace=3)
            await self.client.close()
