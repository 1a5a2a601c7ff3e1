"""WHIP publishers (RFC 9725): the worker's side of `POST /whip` and `DELETE /whip/<id>`. An offer
that admission.py lets through goes to the component; once it is answered, a session (session.py,
kind "whip") reads the component's SDP file (the publisher's RTP on loopback, Opus → AAC) and is a
publish session like RTMP's and SRT's from its first media byte on (sessions.OwnSessions.started).
One WHIP session at a time: the SDP's ports are FFmpeg's. When its FFmpeg ends (silence watch,
refused, displaced, DELETE), the component's session is deleted too, so the publisher may POST again.
Why: docs/design/webrtc.md ("The ingest worker").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.rtmp_sessions import ADMIT_HOLD_SECONDS
from streamops.media.ingest.session import Session
from streamops.media.ingest.webrtc.admission import (
    OFFER,
    UNAVAILABLE,
    Refusal,
    not_whip,
    unauthorized,
    whip_refusal,
)
from streamops.media.ingest.webrtc.commands import whip_input
from streamops.media.ingest.webrtc.component import Component, ControlReply

# A publisher's media reaches FFmpeg within this after the answer, or the session is given up
# (the component drops a peer that never connects after 15 s: the same bound).
FIRST_MEDIA_SECONDS = 15.0
KEYFRAME_ASK_SECONDS = 0.3  # FFmpeg starts at a keyframe: asked for this often until media flows
STOP_GRACE_SECONDS = 1.0


class WhipHost(Protocol):
    """What WHIP uses of the worker (worker.IngestWorker)."""

    @property
    def config(self) -> IngestConfig: ...

    @property
    def live(self) -> bool:
        """The live session's media flows (one publisher at a time)."""
        ...

    @property
    def current(self) -> Session | None: ...

    def read_key(self) -> bytes | None: ...

    def taking_over(self) -> bool:
        """A handover's successor about to take media (handover.Handover.taking_over)."""
        ...

    def new_session(
        self,
        kind: str,
        url: str,
        options: dict[str, Any],
        secret_input: tuple[Path, str] | None = None,
        audio_codec: str = "copy",
    ) -> Session: ...


def refusal_reply(refusal: Refusal) -> ControlReply:
    return ControlReply.text(refusal.status, refusal.message, refusal.headers)


class WhipIngest:
    def __init__(
        self,
        host: WhipHost,
        component: Component,
        sdp_path: Path,
        refused: Callable[[str, str], None],
        log: logging.Logger,
    ) -> None:
        """`refused(reason, answer)`: counts a refusal (admission.py's reasons; the answer's status and text)."""
        self.host, self.component, self.sdp_path, self.refused, self.log = host, component, sdp_path, refused, log
        self.session: Session | None = None  # the FFmpeg reading the SDP file
        self.resource: str | None = None  # the component's session: /whip/<id>
        self._lock = asyncio.Lock()  # one offer, DELETE or teardown at a time
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed: str | None = None  # why no WHIP publisher is taken (close())
        self.hold_seconds = ADMIT_HOLD_SECONDS
        self._reopened = asyncio.Event()  # replaced by each reopen(): wakes the held offers

    def _refuse(self, refusal: Refusal) -> ControlReply:
        self.refused(refusal.reason, f"{refusal.status} {refusal.message}")
        self.log.info("WHIP publisher refused: %s %s", refusal.status, refusal.message)
        return refusal_reply(refusal)

    def _live_kind(self) -> str | None:
        current = self.host.current
        return current.kind if current is not None and self.host.live else None

    async def publish(self, authorization: str | None, offer: bytes, content_type: str) -> ControlReply:
        """POST /whip: the component's answer (201, Location `/whip/<id>`: the caller maps it onto its
        public path), or why not."""
        config = self.host.config
        if refusal := whip_refusal(config, authorization, self.host.read_key(), self._live_kind()):
            return self._refuse(refusal)
        if self.closed is not None and not await self._held():
            self.refused(UNAVAILABLE, f"503 {self.closed}")
            return ControlReply.text(503, self.closed or "", {"Retry-After": "1"})
        async with self._lock:
            if refusal := whip_refusal(config, authorization, self.host.read_key(), self._live_kind()):
                return self._refuse(refusal)  # someone went live while we waited
            await self._end(self.session, self.resource, "a new WHIP publisher displaces the silent one")
            if not self.component.running:
                self.refused(UNAVAILABLE, "503 the WebRTC component is not running")
                return ControlReply.text(503, "the WebRTC component is not running", {"Retry-After": "2"})
            reply = await self.component.client.post_whip(offer, content_type)
            if reply.status != 201 or not reply.location:
                answer = f"{reply.status} {reply.body[:200].decode(errors='replace').strip()}"
                self.refused(OFFER if reply.status in (400, 406, 415) else UNAVAILABLE, answer)
                self.log.info("WHIP offer refused by the component: %s %s", reply.status, reply.body[:200])
                return reply
            self.resource = reply.location
            session = self.session = self.host.new_session("whip", *whip_input(self.sdp_path), audio_codec="aac")
            self._spawn(self._run(session))
            await self._until_started(session)
            self._spawn(self._ask_keyframes(session))
        self.log.info("WHIP publisher accepted (%s)", reply.location)
        return reply

    def authorized(self, authorization: str | None) -> bool:
        """The stream takes WHIP and `authorization` carries its key (what a 201 needs too): the
        request may have the TURN credentials."""
        return not_whip(self.host.config) is None and unauthorized(authorization, self.host.read_key()) is None

    async def delete(self, authorization: str | None, resource: str) -> ControlReply:
        """DELETE /whip/<id>: the publisher leaves; its session ends."""
        if refusal := unauthorized(authorization, self.host.read_key()):
            return self._refuse(refusal)
        async with self._lock:
            if resource == self.resource:
                await self._end(self.session, self.resource, "the WHIP publisher left (DELETE)")
                return ControlReply.text(200, "the WHIP session is ended")
        if not self.component.running:
            return ControlReply.text(404, "no such WHIP session")
        return await self.component.client.delete(resource)

    async def _held(self) -> bool:
        """A handover's successor about to take over holds an offer (as RtmpSessions.held does an
        RTMP publisher) rather than answering 503: the encoder coming back from its predecessor's
        cut is taken on its first try, not after its Retry-After. True once publishers are taken
        again (reopen()) within hold_seconds; False at once anywhere else (a released predecessor)."""
        deadline = asyncio.get_running_loop().time() + self.hold_seconds
        while self.closed is not None:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not self.host.taking_over():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reopened.wait(), left)
        return True

    def reopen(self) -> None:
        """Publishers are taken again (a handover's successor read `released`, or stopped following):
        the held offers go on now."""
        self.closed = None
        self._reopened.set()
        self._reopened = asyncio.Event()

    async def close(self, why: str) -> None:
        """Take no WHIP publisher any more (503 with Retry-After: a handover's predecessor, whose
        Service now routes to its successor) and end the one there is."""
        self.closed = why
        async with self._lock:
            await self._end(self.session, self.resource, why)

    async def stop(self) -> None:
        async with self._lock:
            await self._end(self.session, self.resource, "the worker stops")
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- the session ------------------------------------------------------------------------------------
    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end(self, session: Session | None, resource: str | None, why: str) -> None:
        """Stop `session`'s FFmpeg (its ports free once it exits) and delete `resource` on the
        component. Callers hold the lock and forget both."""
        if session is not None and session.process.running:
            self.log.info("%s", why)
            await session.process.stop(grace=STOP_GRACE_SECONDS)
        if resource is not None and self.component.running:
            await self.component.client.delete(resource)
        self.session = self.resource = None

    async def _until_started(self, session: Session) -> None:
        """Until its FFmpeg runs (and binds the SDP's ports): a stop before would find no process."""
        deadline = time.monotonic() + 5
        while session.process.process is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _run(self, session: Session) -> None:
        run = asyncio.create_task(session.run())
        try:
            deadline = time.monotonic() + FIRST_MEDIA_SECONDS
            while not session.started and not run.done() and time.monotonic() < deadline:
                await asyncio.wait({run}, timeout=0.1)
            if not session.started and not run.done():
                self.log.warning("the WHIP publisher sent no media within %g s: its session ends", FIRST_MEDIA_SECONDS)
                await session.process.stop(grace=STOP_GRACE_SECONDS)
            await run
        except Exception as e:  # one publisher's FFmpeg failing is logged; the next POST starts another
            self.log.error("WHIP session failed: %s", e)
        finally:
            async with self._lock:
                if self.session is session:  # not displaced or deleted meanwhile: its resource is still ours
                    await self._end(None, self.resource, "")

    async def _ask_keyframes(self, session: Session) -> None:
        """FFmpeg starts at the first keyframe; browsers send one only when asked (the component
        also asks every 2 s: this makes it at once)."""
        while self.session is session and not session.started and session.process.running:
            await self.component.client.keyframe()
            await asyncio.sleep(KEYFRAME_ASK_SECONDS)
