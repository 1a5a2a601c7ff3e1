"""The RTMP front's sessions (rtmp_front.py): an FFmpeg session per admitted publisher, reading FLV
from a FIFO of its own; the admission that picks it (the idle listener, else a standby session);
and the publisher cut when its session ends. Why: docs/design/ingest-robustness.md (standby
session, displacement), rtmp-front.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from streamops.media.ingest.commands import flv_fifo_input
from streamops.media.ingest.rtmp_front import Admission, RtmpFront
from streamops.media.ingest.session import Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor

STANDBY_LISTEN_SECONDS = 10  # a standby RTMP session whose publisher sends no media is stopped after this


class RtmpSessions:
    def __init__(
        self,
        sessions: OwnSessions,
        private_dir: Path,
        front: Callable[[], RtmpFront | None],
        active: Callable[[], bool],
        redact: Redactor,
        log: logging.Logger,
    ) -> None:
        """`front`: the RTMP front once it runs (None before, and without RTMP); `active`: the
        stream takes publishers (not deactivated)."""
        self.sessions, self.private_dir, self.front, self.active = sessions, private_dir, front, active
        self.redact, self.log = redact, log
        self.standby: Session | None = None  # an RTMP session for a publisher arriving while none is idle
        self._standby_tasks: set[asyncio.Task[None]] = set()

    def session(self) -> Session:
        """An FFmpeg session that reads FLV from a FIFO of its own, written by the RTMP front."""
        fifo = self.private_dir / f"rtmp-{time.monotonic_ns()}.flv"
        url, options = flv_fifo_input(fifo)
        return self.sessions.new_session("rtmp", url, options, fifo_input=fifo)

    def admit(self, front_id: int, tls: bool) -> Admission:
        """The RTMP front's question for a publisher whose key matched: the FIFO of the FFmpeg
        session that takes its media, or why not. Only a live, sending session holds the stream. The
        idle listener takes the newcomer; while it is taken (a publisher connecting) or a session is
        silent, a standby session of its own does, so a silent session's successor is accepted at
        once: its media, once it flows, displaces the silent one (`OwnSessions.started`)."""
        if not self.active():
            return "inactive"
        if self.sessions.live:
            return "busy"
        idle = next((s for s in self.sessions.listeners if s.kind == "rtmp" and s.takes_publisher), None)
        session = idle or self._start_standby()
        if session is None:
            return "busy"
        session.front_id, session.tls = front_id, tls
        assert session.fifo_input is not None
        return session.fifo_input

    def _start_standby(self) -> Session | None:
        if self.standby is not None:
            return None  # one newcomer at a time beside the idle listener
        self.standby = session = self.session()
        task = asyncio.get_running_loop().create_task(self._run_standby(session))
        self._standby_tasks.add(task)
        task.add_done_callback(self._standby_tasks.discard)
        return session

    async def _run_standby(self, session: Session) -> None:
        run = asyncio.create_task(self.run_session(session))
        try:
            # A publisher admitted but sending no media (or a front that never opened the FIFO) does
            # not hold the standby for good: FFmpeg would wait on the FIFO forever.
            done, _ = await asyncio.wait([run], timeout=STANDBY_LISTEN_SECONDS)
            if not done and not session.started:
                await session.process.stop(grace=1)
            await run
        except Exception as e:  # a standby's failure is logged; the front's next publisher gets another
            self.log.error("standby rtmp session failed: %s", self.redact(str(e)))
        finally:
            if self.standby is session:
                self.standby = None

    async def run_session(self, session: Session) -> bool:
        """`session.run()`, then the RTMP front cuts its publisher (displaced, silent, stopped): any
        listener's session runs so (one without a publisher of the front's is only run)."""
        try:
            return await session.run()
        finally:
            front = self.front()
            if session.front_id is not None and front is not None:
                front.close(session.front_id)
