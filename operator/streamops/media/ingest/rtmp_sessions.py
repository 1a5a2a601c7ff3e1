"""The RTMP front's sessions (rtmp_front.py): an FFmpeg session per admitted publisher, reading FLV
from a FIFO of its own; the admission that picks it (the idle listener, else a standby session);
and the publisher cut when its session ends. Why: docs/design/ingest-robustness.md (standby
session, displacement), rtmp-front.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

from streamops.media.ingest.commands import flv_fifo_input, front_hls_problem, front_writes_hls
from streamops.media.ingest.rtmp_front import Admission, HlsAdmission, RtmpFront
from streamops.media.ingest.session import Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor

STANDBY_LISTEN_SECONDS = 10  # a standby RTMP session whose publisher sends no media is stopped after this
# A handover successor holds a publisher's admission at most this long for its predecessor's
# `released` (typically ≤ 1 s after the cut): well under the front's --admit-timeout (5 s), which
# then turns the publisher away as busy, so that a loaded loop and the pipe still have 2 s to answer.
ADMIT_HOLD_SECONDS = 3.0

HeldAdmission = Coroutine[None, None, Admission]  # answered later (RtmpFront.on_event runs it)


class RtmpSessions:
    def __init__(
        self,
        sessions: OwnSessions,
        private_dir: Path,
        front: Callable[[], RtmpFront | None],
        active: Callable[[], bool],
        redact: Redactor,
        log: logging.Logger,
        taking_over: Callable[[], bool] = lambda: False,
    ) -> None:
        """`front`: the RTMP front once it runs (None before, and without RTMP); `active`: the
        stream takes publishers (not deactivated, not following a handover's predecessor);
        `taking_over`: not active yet, but about to be (handover.Handover.taking_over)."""
        self.sessions, self.private_dir, self.front, self.active = sessions, private_dir, front, active
        self.redact, self.log, self.taking_over = redact, log, taking_over
        self.hold_seconds = ADMIT_HOLD_SECONDS
        self._activated = asyncio.Event()  # replaced by each activated(): wakes the held admissions
        self.standby: Session | None = None  # an RTMP session for a publisher arriving while none is idle
        self._standby_tasks: set[asyncio.Task[None]] = set()
        self._stopping: set[asyncio.Task[int | None]] = set()  # sessions ended for their front's HLS writers
        # The front writes the sessions' HLS (IngestConfig.hlsWriter front), until its writers refuse
        # a publisher's media: then FFmpeg does, for the worker's life (an encoder's codecs do not
        # change between its reconnects; trying again would cut every one of them).
        config = sessions.config
        self.front_hls = front_writes_hls(config)
        problem = front_hls_problem(config)
        if config.hls_writer == "front" and problem is not None:
            log.info("hlsWriter front ignored: the RTMP front's HLS writers do no %s; FFmpeg writes the HLS", problem)

    def session(self) -> Session:
        """An FFmpeg session that reads FLV from a FIFO of its own, written by the RTMP front; with
        `front_hls`, without HLS outputs (the front writes them: `admit_now`)."""
        fifo = self.private_dir / f"rtmp-{time.monotonic_ns()}.flv"
        url, options = flv_fifo_input(fifo)
        return self.sessions.new_session("rtmp", url, options, fifo_input=fifo, front_hls=self.front_hls)

    def admit(self, front_id: int, tls: bool) -> Admission | HeldAdmission:
        """The RTMP front's question for a publisher whose key matched. A handover successor about
        to take over holds it (`held`) rather than refusing it `inactive`: the encoder reconnecting
        from the predecessor just cut is taken on its first try (issue 56: refused, its retry 1 s
        later cost the viewer 2.4-2.5 s)."""
        if not self.active() and self.taking_over():
            return self.held(front_id, tls)
        return self.admit_now(front_id, tls)

    async def held(self, front_id: int, tls: bool) -> Admission:
        """The answer once the stream is active (`activated()`), or `inactive` after hold_seconds."""
        deadline = asyncio.get_running_loop().time() + self.hold_seconds
        while not self.active():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not self.taking_over():
                return "inactive"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._activated.wait(), left)
        return self.admit_now(front_id, tls)

    def activated(self) -> None:
        """The stream may take publishers again (the successor read `released`, or stopped
        following): the held admissions are answered now."""
        self._activated.set()
        self._activated = asyncio.Event()

    def admit_now(self, front_id: int, tls: bool) -> Admission:
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
        if idle is not None and idle.front_hls != self.front_hls:
            # Made before the front's writers refused a publisher: it has no HLS outputs of its own.
            self._stop(idle)
            idle = None
        session = idle or self._start_standby()
        if session is None:
            return "busy"
        session.front_id, session.tls = front_id, tls
        assert session.fifo_input is not None
        if session.front_hls:
            return HlsAdmission(session.fifo_input, session.front_hls_request())
        return session.fifo_input

    def mux_failed(self, front_id: int, error: str, unsupported: bool) -> None:
        """The front's HLS writers of a session stopped (its `mux` event); the FIFO goes on, but the
        session has no HLS any more, so it ends as one whose FFmpeg HLS output failed does
        (run_session then cuts the publisher). `unsupported` (a codec or change they do not take):
        FFmpeg writes the HLS of every session from now on, so the publisher's reconnect plays."""
        candidates = (self.sessions.current, self.standby, *self.sessions.listeners)
        session = next((s for s in candidates if s is not None and s.front_id == front_id and s.front_hls), None)
        if unsupported and self.front_hls:
            self.front_hls = False
            self.log.warning(
                "the RTMP front's HLS writers do not take this publisher's media (%s): FFmpeg writes the HLS from "
                "its next session on; this one ends",
                error,
            )
        elif not unsupported:
            self.log.error("the RTMP front's HLS writing failed (%s): ending the session", error)
        if session is not None:
            self._stop(session)

    def _stop(self, session: Session) -> None:
        task = asyncio.get_running_loop().create_task(session.process.stop(grace=1))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

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
