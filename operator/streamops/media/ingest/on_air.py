"""Whose media the ingest serves (/feed, /feed/transcoded, HLS, the screenshot): its own session's,
or, on a primary whose backup ingest sends its feed (backup_link.py), the relay session's that
reads it. `OnAir` follows both flows, asks failover.decide() which goes on air and has its host
switch (`OnAirHost.go_on_air`); it also answers the backup's uplink (BACKUP_UPLINK_PATH). Roles in
decide() are the primary's view: "primary" is this ingest's own session.
Why: docs/design/backup-failover.md (sections 1 and 3).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from aiohttp import web

from streamops.api.livestream_media import Failback
from streamops.contract.decimal_text import decimal
from streamops.contract.ingest import IngestConfig, Role
from streamops.media.ffmpeg import Progress
from streamops.media.ingest.backup_link import AUTH_HEADER, FAILBACK_HEADER, uplink_token_valid
from streamops.media.ingest.failover import PREPARE_SILENCE_SECONDS, Flow, decide
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.session import LiveMeter, Session
from streamops.media.ingest.wakes import until_set

# Decisions driven by time (silence, stability) come at most this late, while time can change one:
# the backup's media flows or a yield lasts. Else only events change them (a session's start, end,
# own media resuming) and nothing ticks (lean-ingest.md, "A quiet supervisor").
TICK_SECONDS = 0.2
# An uplink that brings nothing for this long is over (the backup froze or its network path died).
UPLINK_READ_TIMEOUT_SECONDS = 3.0
RELAY_STOP_SECONDS = 5.0  # the relay's FFmpeg reads the rest of its input and exits by itself, normally
RELAY_FEED_PATH = "/backup/feed"  # loopback only: the uplinked feed, as the relay session's FFmpeg reads it
# A planned switchover's yield (HANDOVER_YIELD_PATH) lasts this long unless the operator renews it
# (every 2 s while it wants it): an operator gone or a handover failed gives the air back by itself.
YIELD_LEASE_SECONDS = 10.0


class OnAirHost(Protocol):
    """What OnAir uses of the worker that owns it (worker.IngestWorker)."""

    @property
    def config(self) -> IngestConfig: ...

    @property
    def current(self) -> Session | None:
        """The own live session, if any."""
        ...

    @property
    def feed(self) -> FeedHub:
        """The own session's feed."""
        ...

    @property
    def transcoded_feed(self) -> FeedHub: ...

    @property
    def meter(self) -> LiveMeter:
        """The live rates of what is on air: the relay's progress goes there while it is."""
        ...

    def read_key(self) -> bytes | None:
        """The stream key (the uplink's signature is checked with it)."""
        ...

    def relay_session(self) -> Session:
        """A new session reading the uplinked feed (RELAY_FEED_PATH), reporting to this OnAir."""
        ...

    def go_on_air(self, session: Session, feed: FeedHub, transcoded: FeedHub) -> None:
        """Serve `session`'s HLS and screenshot, and `feed`/`transcoded` as /feed and /feed/transcoded."""
        ...


class OnAir:
    def __init__(self, worker: OnAirHost, relays: bool, log: logging.Logger) -> None:
        """`relays`: a primary of a push stream, whose backup may send its feed."""
        self.worker, self.relays, self.log = worker, relays, log
        self.own = Flow()  # the worker's own session
        self.backup = Flow()  # the relay of the backup's feed
        self.session: Session | None = None  # whose media is served (it may have ended since)
        self.role: Role | None = None  # decide()'s name for it
        self.wanted = False  # ask the backup for its feed (IngestStatus.backup_wanted)
        self.stable_seconds = Failback().stable_seconds  # until a backup's uplink says otherwise
        self.uplink = FeedHub()  # the backup's feed as it arrives, served at RELAY_FEED_PATH
        self.relay: Session | None = None
        self.relay_feed, self.relay_transcoded_feed = FeedHub(), FeedHub()
        self.receiving = False  # an uplink is being received (one at a time)
        self.switches = 0
        self.yield_until = 0.0  # monotonic: a planned switchover's backup on air until then
        # Takes no media (a handover's following successor, a released predecessor): the backup is
        # not asked, and an uplink being received ends (its relay writes its last segment).
        self.closed = False
        self._wake = asyncio.Event()  # run(): time may drive a decision now (the backup flows, a yield)

    # --- what the worker reports -------------------------------------------------------------------
    def sending(self, now: float) -> bool:
        """Media of the source on air flows: the output is live."""
        if self.session is None:
            return False
        return (self.backup if self.role == "backup" else self.own).sending(now)

    def active_ingest(self, own_role: Role, now: float) -> Role | None:
        if not self.sending(now):
            return None
        return "backup" if self.role == "backup" else own_role

    def serves(self, session: Session | None) -> bool:
        return session is not None and session is self.session

    def wants_backup(self, now: float) -> bool:
        """IngestStatus.backup_wanted as of `now`: the decision taken again when asked, since
        nothing ticks it while only the own media flows (its silence makes it true)."""
        self.update(now)
        return self.wanted

    def time_driven(self, now: float) -> bool:
        """Whether the decision can change with time alone. With the backup's media silent and no
        yield, decide() puts the own media on air when it flows and else keeps what is on air: only
        events change that (own_started, own_ended, own media resuming, the relay's), and `wanted`
        is taken again when asked (wants_backup)."""
        return now < self.yield_until or self.backup.sending(now)

    # --- the worker's own sessions ----------------------------------------------------------------
    def own_started(self, now: float) -> None:
        self.own = Flow.started(now)
        self.update(now)

    def own_media(self, now: float) -> None:
        resumed = not self.own.sending(now, PREPARE_SILENCE_SECONDS)
        self.own = self.own.media(now)
        if resumed:  # may take the air back or stop wanting the backup: at once, not at a tick
            self.update(now)

    def own_ended(self, now: float) -> None:
        self.own = Flow()
        self.update(now)

    # --- the decision -------------------------------------------------------------------------------
    def update(self, now: float) -> None:
        yielding = now < self.yield_until and not self.closed
        decision = decide(now, self.own, self.backup, self.role, self.stable_seconds, yielding)
        self.wanted = self.relays and decision.wanted and not self.closed
        worker = self.worker
        target = worker.current if decision.on_air == "primary" else self.relay if decision.on_air == "backup" else None
        if target is None or target is self.session or not target.started:
            return
        before = self.role
        self.session, self.role = target, decision.on_air
        if decision.on_air == "backup":
            worker.go_on_air(target, self.relay_feed, self.relay_transcoded_feed)
        else:
            worker.go_on_air(target, worker.feed, worker.transcoded_feed)
        if before is not None and before != decision.on_air:
            self.switches += 1
            if decision.on_air == "backup":
                self.log.warning("the backup ingest's media is on air: the primary's own sends nothing")
            else:
                self.log.info("the primary's own media is back on air (stable for %d s)", self.stable_seconds)
        elif decision.on_air == "backup":
            self.log.info("the backup ingest's media is on air")

    async def run(self, stopping: asyncio.Event) -> None:
        """Every TICK_SECONDS while time can change the decision, else until an event wakes it."""
        while not stopping.is_set():
            now = time.monotonic()
            self._wake.clear()
            self.update(now)
            await until_set((stopping, self._wake), TICK_SECONDS if self.time_driven(now) else None)

    # --- the relay session (its SessionEvents) ------------------------------------------------------
    def relay_started(self, session: Session) -> bool:
        self.relay_feed.start_session()
        if session.transcoded_pipe is not None:
            self.relay_transcoded_feed.start_session()
        self.backup = Flow.started(time.monotonic())
        self.log.info("relaying the backup's feed")
        self.update(time.monotonic())
        self._wake.set()
        return True

    def relay_media(self, chunk: bytes) -> None:
        self.relay_feed.publish(chunk)
        now = time.monotonic()
        resumed = not self.backup.sending(now)
        self.backup = self.backup.media(now)
        if resumed:  # time drives the decision again
            self.update(now)
            self._wake.set()

    def relay_transcoded(self, chunk: bytes) -> None:
        self.relay_transcoded_feed.publish(chunk)

    def relay_progress(self, progress: Progress) -> None:
        if self.serves(self.relay):
            self.worker.meter.add(time.monotonic(), progress, self.relay_feed.bytes_in)

    def relay_ended(self, session: Session, rc: int | None) -> None:
        self.relay_feed.end_session()
        self.relay_transcoded_feed.end_session()
        self.backup = Flow()
        self.log.info("relay of the backup's feed ended (ffmpeg exit %s)", rc)
        self.update(time.monotonic())

    # --- the backup's uplink (BACKUP_UPLINK_PATH) ----------------------------------------------------
    def _signed(self, request: web.Request) -> int | None:
        """The uplink's failback.stableSeconds when it is signed with our stream key, else None."""
        key = self.worker.read_key()
        stable = decimal(request.headers.get(FAILBACK_HEADER, ""))
        if key is None or stable is None or not 1 <= stable <= 3600:
            return None
        token = request.headers.get(AUTH_HEADER, "")
        valid = uplink_token_valid(key, self.worker.config.stream, stable, token, time.time())
        return stable if valid else None

    async def receive_uplink(self, request: web.Request) -> web.StreamResponse:
        stable = self._signed(request)
        if stable is None:
            return web.Response(status=403, text="not signed with the stream's key")
        if not self.wanted:
            return web.Response(status=409, text="the primary does not want the backup's feed now")
        if self.receiving:
            return web.Response(status=409, text="the primary receives another backup feed")
        self.receiving, self.stable_seconds = True, stable
        self.uplink.start_session()
        relay = self.relay = self.worker.relay_session()
        task = asyncio.create_task(relay.run())
        try:
            # Taken for as long as the primary wants it: the relay is on air, or prepared for a switch.
            while self.wanted and not task.done():
                try:
                    chunk = await asyncio.wait_for(request.content.readany(), UPLINK_READ_TIMEOUT_SECONDS)
                except TimeoutError:
                    self.log.warning("the backup's feed sent nothing for %g s", UPLINK_READ_TIMEOUT_SECONDS)
                    break
                if not chunk:
                    break
                self.uplink.publish(chunk)
        finally:
            self.uplink.end_session()  # the relay reads to the end and exits
            done, _ = await asyncio.wait({task}, timeout=RELAY_STOP_SECONDS)
            if not done:
                await relay.process.stop(grace=1)
                await asyncio.wait({task}, timeout=RELAY_STOP_SECONDS)
            self.receiving = False
        return web.Response(status=204)

    async def yield_air(self, _: web.Request) -> web.Response:
        """HANDOVER_YIELD_PATH: a planned switchover puts the backup's media on air for
        YIELD_LEASE_SECONDS (renewed by each request); 409 while this ingest takes no media."""
        if self.closed:
            return web.Response(status=409, text="this ingest takes no media")
        now = time.monotonic()
        self.yield_until = now + YIELD_LEASE_SECONDS
        self.update(now)
        self._wake.set()
        return web.Response(status=202, text=f"the backup's media on air for {YIELD_LEASE_SECONDS:g} s")

    async def close(self, closed: bool) -> None:
        """Take no media (`closed`): stop asking the backup and end an uplink being received; returns
        once its relay ended. Or take it again."""
        self.closed = closed
        self.update(time.monotonic())
        while closed and self.receiving:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.process.stop(grace=1)
