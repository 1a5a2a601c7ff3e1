"""SRT and RTSP for readers: `streamops-readers` (components/readers) as the ingest's child process,
started (again, with backoff, when it exits) while the stream serves either. It reads this worker's
own feed on the internal face with the worker credential (its file's path in argv, never the
credential), checks playback tokens itself (the keys' directory in argv) and reports what it does
as JSON lines on stdout: its listeners, readers by protocol, refusals by reason. Nothing it sends
carries a token. Why: docs/design/readers.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from streamops.contract.ingest import FEED_PATH, IngestConfig
from streamops.contract.metrics import READER_PROTOCOLS, READER_REFUSAL_REASONS
from streamops.media.child_restarts import keep_running, run_with_events
from streamops.media.ffmpeg import FfmpegProcess
from streamops.media.ingest.playback_rules import RULES_UNAVAILABLE, RuleRefusal, ViewerFacts
from streamops.media.ingest.viewer_rules import ViewerRules
from streamops.media.worker_metrics import counter
from streamops.redaction import Redactor

READERS = os.environ.get("STREAMOPS_READERS", "streamops-readers")
LISTEN_TIMEOUT_SECONDS = 10.0
EVENT_LINE_BYTES = 1 << 16  # an event line is under a hundred bytes: longer is a broken child


def readers_command(config: IngestConfig, loopback_host: str, internal_port: int) -> list[str]:
    """The component's argv: addresses, the feed's URL and file paths, never a secret."""
    readers = config.readers
    assert readers is not None, "only for an ingest that serves readers"
    bind, ports = config.bind_address, config.ports
    feed = f"http://{loopback_host}:{internal_port}{FEED_PATH}"
    argv = [READERS, "--feed", feed, "--stream", config.stream_id]
    if config.credential_file:
        argv += ["--credential-file", config.credential_file]
    if config.signed and config.playback and config.playback.keys_dir:
        argv += ["--keys-dir", config.playback.keys_dir]
    if config.playback and config.playback.rules_file:
        argv.append("--rules")  # it asks this worker about each caller's address (Readers.on_event)
    if readers.srt:
        argv += ["--srt", f"{bind}:{ports.srt_read}"]
    if readers.rtsp:
        argv += ["--rtsp", f"{bind}:{ports.rtsp}"]
    if readers.rtsps:
        assert readers.tls_cert_file and readers.tls_key_file  # IngestReaders checks
        argv += ["--rtsps", f"{bind}:{ports.rtsps}", "--cert", readers.tls_cert_file, "--tls-key", readers.tls_key_file]
    if readers.max_connections:
        argv += ["--max-readers", str(readers.max_connections)]
    if readers.max_connections_per_address:
        argv += ["--max-per-address", str(readers.max_connections_per_address)]
    return argv


class Readers:
    """The component's process and what it reports: `viewers` by protocol (srt, rtsp), `refusals` by
    (protocol, reason), the listeners bound."""

    def __init__(
        self,
        config: IngestConfig,
        feed_address: Callable[[], tuple[str, int]],
        registry: CollectorRegistry,
        labels: dict[str, str],
        redact: Redactor,
        log: logging.Logger,
        rules: Callable[[], ViewerRules | None] = lambda: None,
    ) -> None:
        """`feed_address()`: where this worker's internal face is (host, port), once it listens;
        refusals are counted in streamops_ingest_reader_refusals_total{protocol,reason}; `rules()`: the
        stream's PlaybackPolicy rules (the playback gate's), which the component asks about each caller."""
        self.config, self.feed_address, self.rules = config, feed_address, rules
        self.m_refusals = counter("streamops_ingest_reader_refusals_total", "ingest", registry)
        self.labels = labels
        self.redact, self.log = redact, log
        self.process: FfmpegProcess | None = None
        self.listening: dict[str, str] = {}  # listener (srt, rtsp, rtsps) -> address bound
        self.viewers: dict[str, int] = dict.fromkeys(READER_PROTOCOLS, 0)
        self.refusals: Counter[tuple[str, str]] = Counter()
        self.error: str | None = "not started yet"
        self._all_listening = asyncio.Event()

    @property
    def wanted(self) -> set[str]:
        readers = self.config.readers
        if readers is None:
            return set()
        return {name for name, on in (("srt", readers.srt), ("rtsp", readers.rtsp), ("rtsps", readers.rtsps)) if on}

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "viewers":
            for protocol in READER_PROTOCOLS:
                value = event.get(protocol)
                if isinstance(value, int) and value >= 0:
                    self.viewers[protocol] = value
        elif kind == "refused":
            protocol, reason = str(event.get("protocol")), str(event.get("reason"))
            protocol = protocol if protocol in READER_PROTOCOLS else "rtsp"
            reason = reason if reason in READER_REFUSAL_REASONS else "protocol"
            count = event.get("count", 1)
            count = count if isinstance(count, int) and count > 0 else 1
            self.refusals[protocol, reason] += count
            self.m_refusals.labels(**self.labels, protocol=protocol, reason=reason).inc(count)
        elif kind == "ask":
            self._answer(event)
        elif kind == "listening":
            self.listening[str(event.get("listener"))] = str(event.get("address"))
            if self.wanted <= self.listening.keys():
                self.error = None
                self._all_listening.set()

    def _answer(self, event: dict[str, Any]) -> None:
        """The rules' verdict on a caller's address, on the component's stdin: the same decision as the
        HTTP gate's with a listener's facts (an address only: playback_rules.ViewerFacts.http)."""
        ask, address = event.get("id"), event.get("address")
        process = self.process.process if self.process else None
        if not isinstance(ask, int) or not isinstance(address, str) or process is None or process.stdin is None:
            return
        rules = self.rules()
        refusal = rules.refusal(ViewerFacts(address=address, http=False)) if rules else RuleRefusal(RULES_UNAVAILABLE)
        with contextlib.suppress(ConnectionError, RuntimeError):  # (the child gone: its caller is gone too)
            process.stdin.write(json.dumps({"id": ask, "refused": refusal.reason if refusal else ""}).encode() + b"\n")

    async def _read_events(self, process: FfmpegProcess) -> None:
        assert process.process is not None and process.process.stdout is not None
        stdout = process.process.stdout
        while line := await stdout.readline():
            if len(line) > EVENT_LINE_BYTES:
                break
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.on_event(event)

    def _stderr(self, line: str) -> None:
        self.log.warning("readers: %s", line)

    async def _run_once(self, stopping: asyncio.Event) -> int | None:
        host, port = self.feed_address()
        process = self.process = FfmpegProcess(
            "readers",
            readers_command(self.config, host, port),
            self.redact,
            self.log,
            on_stderr=self._stderr,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        await process.start()
        return await run_with_events(process, self._read_events, stopping, self._reset)

    def _reset(self) -> None:
        self._all_listening.clear()
        self.listening.clear()
        self.viewers = dict.fromkeys(READER_PROTOCOLS, 0)

    async def run(self, stopping: asyncio.Event) -> None:
        """The component until `stopping`, started again with backoff when it exits."""
        try:
            await keep_running(
                lambda: self._run_once(stopping),
                stopping,
                "the readers' component (SRT, RTSP)",
                lambda: self.process.last_error() if self.process else "",
                self._failed,
            )
        finally:
            self._reset()
            if self.process is not None:
                await self.process.stop(grace=3)

    def _failed(self, error: str) -> None:
        self.error = self.redact(error)
        self.log.error("%s", self.error)

    async def wait_listening(self, timeout: float = LISTEN_TIMEOUT_SECONDS) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_listening.wait(), timeout)
        return self._all_listening.is_set()
