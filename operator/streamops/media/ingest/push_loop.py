"""A push stream's listeners: an idle FFmpeg session per protocol (RTMP through the front's FIFO,
SRT listening with the key as passphrase) while no one publishes, each replaced when it ends.
WHIP's publishers come through webrtc/, not here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from streamops.api.livestream_media import PushProtocol
from streamops.contract.ingest import IngestConfig
from streamops.contract.stream_key import srt_passphrase_problem
from streamops.media.ingest.commands import listener_protocols, srt_listen_input, srt_listen_script
from streamops.media.ingest.rtmp_sessions import RtmpSessions
from streamops.media.ingest.session import Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor


class PushListeners:
    def __init__(
        self,
        config: IngestConfig,
        sessions: OwnSessions,
        rtmp: RtmpSessions,
        private_dir: Path,
        read_key: Callable[[], bytes | None],
        redact: Redactor,
        log: logging.Logger,
    ) -> None:
        """`read_key`: the stream key now (None without one), read again on each round (rotation)."""
        self.config, self.sessions, self.rtmp, self.private_dir = config, sessions, rtmp, private_dir
        self.read_key, self.redact, self.log = read_key, redact, log
        self.closed = False  # a handover's released predecessor: no new listener

    def listener(self, protocol: PushProtocol, key: bytes | None) -> Session | None:
        if protocol == "rtmp":
            return self.rtmp.session()
        if key and srt_passphrase_problem(key) is None and key.decode(errors="replace").isprintable():
            push = self.config.source.push
            latency = push.srt.latency_ms if push and push.srt else None
            script = srt_listen_script(
                self.config.bind_address, self.config.ports.srt, key.decode(), latency, self.config.publisher_timeout
            )
            fifo = self.private_dir / f"srt-{time.monotonic_ns()}.ffconcat"
            url, options = srt_listen_input(fifo)
            session = self.sessions.new_session(protocol, url, options, secret_input=(fifo, script))
            session.key = key
            return session
        # No key, no SRT: the passphrase is the key. Nor one SRT refuses (not 10..79 bytes): FFmpeg would
        # exit at once and be started again every few ms; the LiveStream's status says why (operator).
        return None

    async def run(self, stopping: asyncio.Event) -> None:
        """Keep an idle listener per protocol while no one publishes; a listener that ends without
        a session (refused publisher, bad handshake) is replaced, one that ran a session too."""
        push = self.config.source.push
        assert push is not None
        running: dict[PushProtocol, tuple[Session, asyncio.Task[bool]]] = {}
        stop = asyncio.create_task(stopping.wait())
        changed = self.sessions.watch()
        try:
            while not stopping.is_set():
                changed.clear()
                key = self.read_key()
                if self.sessions.current is None and not self.closed:
                    for protocol in listener_protocols(push.protocols):
                        if protocol not in running and (session := self.listener(protocol, key)) is not None:
                            running[protocol] = (session, asyncio.create_task(self.rtmp.run_session(session)))
                    srt = running.get("srt")
                    if srt is not None and srt[0].key != key:  # rotated key: SRT needs a new passphrase
                        await srt[0].process.stop(grace=1)
                self.sessions.listeners = [session for session, _ in running.values()]
                tasks = [task for _, task in running.values()]
                # Idle, the listeners are looked after every second (a rotated key, a hold lifted);
                # a live session needs nothing of this loop until it ends (its task, or `changed` for
                # one that is not a listener's: WHIP), so it waits without a timer then.
                idle = self.sessions.current is None
                woken = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait(
                        [*tasks, stop, woken], timeout=1 if idle else None, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
                for protocol, (_, task) in list(running.items()):
                    if task.done():
                        del running[protocol]
                        if task.exception() is not None:
                            self.log.error("%s listener failed: %s", protocol, self.redact(str(task.exception())))
                        if task.exception() is not None or not task.result():
                            await asyncio.sleep(0.05)  # a listener that failed at once must not spin
        finally:
            stop.cancel()
            for session, task in running.values():
                await session.process.stop(grace=3)
                task.cancel()
