"""The RTMP(S) front door: `streamops-rtmp` (components/rtmp) as the ingest's child process. It
terminates RTMP and RTMPS itself, takes nothing but a publisher's handshake, `connect` and `publish`
before the stream key matched (deadline, byte cap and per-address caps included), and only then asks
this worker where the media goes: the FIFO of an FFmpeg session (rtmp_sessions.RtmpSessions.admit), which it writes
FLV into. No client ever reaches a listener of FFmpeg's.

This module starts it (again, with backoff, when it exits), answers its `publish` events, tells it
to cut a publisher whose session ended, and keeps what status and metrics say of it: refusals by
reason, the RTMPS certificate's fingerprint and error. Control channel: components/rtmp/README.md.
Why: docs/design/rtmp-front.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamops.contract.ingest import IngestConfig
from streamops.contract.metrics import RTMP_REFUSAL_REASONS
from streamops.media.child_restarts import keep_running, run_with_events
from streamops.media.ffmpeg import FfmpegProcess
from streamops.redaction import Redactor

RTMP_FRONT = os.environ.get("STREAMOPS_RTMP", "streamops-rtmp")
LISTEN_TIMEOUT_SECONDS = 10.0  # start → `listening` (a few ms on a quiet machine)
EVENT_LINE_BYTES = 1 << 16  # an event line is a few hundred bytes: longer is a broken child


@dataclass(frozen=True)
class HlsAdmission:
    """A FIFO to write FLV into, and the session's HLS for the front to write too (`admit`'s `hls`:
    commands.front_hls), FFmpeg writing only the feed."""

    fifo: Path
    hls: dict[str, Any]


# What the worker answers a `publish`: a FIFO to write FLV into (and HLS), or why not (a refusal reason).
Admission = Path | HlsAdmission | str
# A `mux` event: the front's HLS writers of a session stopped (its id, the error, `unsupported`).
MuxFailed = Callable[[int, str, bool], None]
REFUSALS = {"busy": "the stream already has a live publisher", "inactive": "the stream is inactive"}


def front_command(config: IngestConfig) -> list[str]:
    """The front's argv: addresses, file paths and limits, never the key (it reads the key file)."""
    push = config.source.push
    assert push is not None and config.stream_key_file, "the front serves push streams with a key file"
    argv = [RTMP_FRONT, "--key-file", config.stream_key_file]
    bind = config.bind_address
    if "rtmp" in push.protocols:
        argv += ["--rtmp", f"{bind}:{config.ports.rtmp}"]
    if "rtmps" in push.protocols:
        assert config.ports.rtmps is not None and config.tls_cert_file and config.tls_key_file  # IngestConfig checks
        argv += ["--rtmps", f"{bind}:{config.ports.rtmps}", "--cert", config.tls_cert_file]
        argv += ["--tls-key", config.tls_key_file]
    argv += ["--idle-timeout", f"{config.publisher_timeout:g}s"]
    return argv


class RtmpFront:
    """The front's process and what it reports. `admit(id, tls)` is the worker's answer to a
    publisher whose key matched: the FIFO of the FFmpeg session that takes it, or a refusal reason."""

    def __init__(
        self,
        config: IngestConfig,
        admit: Callable[[int, bool], Admission | Awaitable[Admission]],
        on_refused: Callable[[str, int], None],
        redact: Redactor,
        log: logging.Logger,
        on_mux: MuxFailed | None = None,
    ) -> None:
        """`admit`: the answer, or an awaitable of it (a held admission: answered when it is done);
        `on_refused(reason, count)`: refusals, for the labelled metric; `on_mux`: a session admitted
        with HLS whose writers stopped (rtmp_sessions.RtmpSessions.mux_failed)."""
        self.config, self.admit, self.on_refused, self.redact, self.log = config, admit, on_refused, redact, log
        self.on_mux = on_mux
        self.process: FfmpegProcess | None = None
        self.listening = asyncio.Event()  # its listeners are bound (readiness waits for it)
        self.refusals: Counter[str] = Counter()  # by RTMP_REFUSAL_REASONS
        self.fingerprint: str | None = None  # SHA-256 of the certificate new RTMPS handshakes get
        self.tls_error: str | None = None
        self.error: str | None = "not started yet"
        self._peers: dict[int, str] = {}  # admitted publishers' addresses, by the front's session id
        self._held: set[asyncio.Task[None]] = set()  # admissions answered later (rtmp_sessions.held)

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())

    # --- the control channel ----------------------------------------------------------------------
    def _send(self, command: dict[str, Any]) -> None:
        process = self.process.process if self.process else None
        if process is None or process.stdin is None or process.returncode is not None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            process.stdin.write(json.dumps(command).encode() + b"\n")

    def close(self, session_id: int) -> None:
        """Cut the publisher of that session (its FFmpeg ended: displaced, silent, stopped)."""
        self._send({"type": "close", "id": session_id})

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "publish":
            session_id, peer = int(event["id"]), str(event.get("peer"))
            answer = self.admit(session_id, bool(event.get("tls")))
            if isinstance(answer, Path | HlsAdmission | str):
                self._answer(session_id, peer, answer)
            else:
                self.log.info("RTMP publisher %s held: this ingest takes over from a handover's predecessor", peer)
                task = asyncio.get_running_loop().create_task(self._answer_later(session_id, peer, answer))
                self._held.add(task)
                task.add_done_callback(self._held.discard)
        elif kind == "refused":
            reason = str(event.get("reason", "")).replace("-", "_")
            reason = reason if reason in RTMP_REFUSAL_REASONS else "protocol"
            # One event counts a reason's refusals from one address since the last (the front
            # reports every 200 ms, so a flood costs a line, not a line per connection).
            count = event.get("count", 1)
            count = count if isinstance(count, int) and count > 0 else 1
            self.refusals[reason] += count
            self.on_refused(reason, count)
        elif kind == "listening":
            self.error = None
            self.listening.set()
        elif kind == "certificate":
            self._certificate(event.get("sha256"), event.get("error"))
        elif kind == "mux":
            error = self.redact(str(event.get("error", ""))[:512])
            if self.on_mux is not None:
                self.on_mux(int(event.get("id", 0)), error, event.get("unsupported") is True)
        elif kind == "ended":
            peer = self._peers.pop(int(event.get("id", 0)), "?")
            if event.get("reason") == "idle":
                idle = self.config.publisher_timeout
                self.log.warning("closed RTMP publisher %s: nothing received for %g s", peer, idle)
            else:
                self.log.info("RTMP publisher %s gone (%s)", peer, event.get("reason"))

    def _answer(self, session_id: int, peer: str, answer: Admission) -> None:
        if isinstance(answer, Path):
            self._peers[session_id] = peer
            self.log.info("RTMP publisher %s accepted", peer)
            self._send({"type": "admit", "id": session_id, "fifo": str(answer)})
        elif isinstance(answer, HlsAdmission):
            self._peers[session_id] = peer
            self.log.info("RTMP publisher %s accepted (the front writes its HLS)", peer)
            self._send({"type": "admit", "id": session_id, "fifo": str(answer.fifo), "hls": answer.hls})
        else:
            self.log.info("refused RTMP publisher %s: %s", peer, REFUSALS.get(answer, answer))
            self._send({"type": "refuse", "id": session_id, "reason": answer})

    async def _answer_later(self, session_id: int, peer: str, held: Awaitable[Admission]) -> None:
        self._answer(session_id, peer, await held)

    def _certificate(self, fingerprint: str | None, error: str | None) -> None:
        if error:
            if str(error)[:512] != self.tls_error:
                keeping = " (new connections keep the previous certificate)" if self.fingerprint else ""
                self.log.error("%s%s", error, keeping)
            self.tls_error = str(error)[:512]
            return
        if fingerprint and fingerprint != self.fingerprint:
            first = self.fingerprint is None
            what = "loaded" if first else "reloaded for new connections"
            self.log.info("RTMPS certificate %s: sha256 %s", what, fingerprint)
        self.fingerprint, self.tls_error = fingerprint or self.fingerprint, None

    async def _read_events(self, process: FfmpegProcess) -> None:
        assert process.process is not None and process.process.stdout is not None
        stdout = process.process.stdout
        while line := await stdout.readline():
            if len(line) > EVENT_LINE_BYTES:
                break
            try:
                event = json.loads(line)
            except ValueError:
                self.log.warning("rtmp front: not an event: %s", self.redact(line[:200].decode(errors="replace")))
                continue
            if isinstance(event, dict):
                self.on_event(event)

    def _stderr(self, line: str) -> None:
        # slog text lines ("time=… level=WARN msg=…"): warnings and errors reach the worker's log;
        # the rest stays at debug with the child's output (-v). What the events say is logged above.
        if "level=WARN" in line or "level=ERROR" in line:
            self.log.warning("rtmp front: %s", line)

    # --- the run ------------------------------------------------------------------------------------
    async def _run_once(self, stopping: asyncio.Event) -> int | None:
        """One run; its exit code (None: stopped by us)."""
        process = self.process = FfmpegProcess(
            "rtmp",
            front_command(self.config),
            self.redact,
            self.log,
            on_stderr=self._stderr,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await process.start()
        return await run_with_events(process, self._read_events, stopping, self.listening.clear)

    async def run(self, stopping: asyncio.Event) -> None:
        """The front until `stopping`, started again with backoff when it exits."""
        try:
            await keep_running(
                lambda: self._run_once(stopping),
                stopping,
                "the RTMP front",
                lambda: self.process.last_error() if self.process else "",
                self._failed,
            )
        finally:
            self.listening.clear()
            for task in list(self._held):
                task.cancel()
            if self.process is not None:
                await self.process.stop(grace=3)

    def _failed(self, error: str) -> None:
        self.error = self.redact(error)
        self.log.error("%s", self.error)

    async def wait_listening(self, timeout: float = LISTEN_TIMEOUT_SECONDS) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), timeout)
        return self.listening.is_set()
