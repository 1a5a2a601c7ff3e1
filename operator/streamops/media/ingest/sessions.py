"""The worker's own publish and pull sessions (the backup's relay is on_air.py's): which one is the
live session, what each reports (its SessionEvents) and the silence watch that ends one sending
nothing. A sending publisher is never displaced; a silent one is, by the newcomer's first media.
Why: docs/design/ingest-robustness.md (displacement, silence watch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Counter

from streamops.contract.ingest import IngestConfig
from streamops.media.ffmpeg import Progress
from streamops.media.ingest.commands import renditions
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.session import LiveMeter, Session, SessionEvents
from streamops.media.ingest.session_history import SessionHistory, publish_protocol
from streamops.media.ingest.wakes import until_set
from streamops.media.worker_process import utc_now
from streamops.redaction import Redactor

STOPPED_RECHECK_SECONDS = 0.5  # after ending a silent session: its end is on its way


class OwnAir(Protocol):
    """What the own sessions tell on_air.OnAir, and ask of it."""

    def own_started(self, now: float) -> None: ...

    def own_media(self, now: float) -> None: ...

    def own_ended(self, now: float) -> None: ...

    def serves(self, session: Session | None) -> bool: ...


class OwnSessions:
    def __init__(
        self,
        config: IngestConfig,
        sessions_dir: Path,
        redact: Redactor,
        feeds: tuple[FeedHub, FeedHub],
        on_air: OwnAir,
        meter: LiveMeter,
        counted: Counter,
        on_air_changed: Callable[[], None],
        on_captions: Callable[[Session], None],
        log: logging.Logger,
    ) -> None:
        """`feeds`: the own session's feed and transcoded feed; `counted`: the sessions' counter;
        `on_air_changed`: what is served may have changed (WebRTC's feeder follows it);
        `on_captions`: a session's captions came after it started."""
        self.config, self.sessions_dir, self.redact, self.log = config, sessions_dir, redact, log
        self.feed, self.transcoded_feed = feeds
        self.on_air, self.meter, self.counted, self.on_air_changed = on_air, meter, counted, on_air_changed
        self.history = SessionHistory(config.role)  # IngestStatus.sessions
        self.current: Session | None = None
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.last_media = 0.0
        self.listeners: list[Session] = []  # the idle listeners (push) or the pull's session
        # Each set when a session starts or ends (`current` changed): what the silence watch and the
        # push listeners wait for instead of looking every fraction of a second (watch()).
        self._watchers: list[asyncio.Event] = []
        self.events = SessionEvents(
            on_started=self.started,
            on_media=self.media,
            on_transcoded=self.transcoded_feed.publish,
            on_progress=self.progress,
            on_ended=self.ended,
            on_captions=on_captions,
        )

    def watch(self) -> asyncio.Event:
        """An event of the caller's own, set whenever `current` changes (the caller clears it)."""
        event = asyncio.Event()
        self._watchers.append(event)
        return event

    def _changed(self) -> None:
        for event in self._watchers:
            event.set()

    @property
    def live(self) -> bool:
        return self.feed.sending  # the feed's own session and its silence rule (feed.SILENCE_SECONDS)

    def new_session(
        self,
        kind: str,
        url: str,
        options: dict[str, Any],
        secret_input: tuple[Path, str] | None = None,
        audio_codec: str = "copy",
        fifo_input: Path | None = None,
        args_file: Path | None = None,
        front_hls: bool = False,
    ) -> Session:
        return Session(
            kind,
            url,
            options,
            config=self.config,
            sessions_dir=self.sessions_dir,
            redact=self.redact,
            events=self.events,
            secret_input=secret_input,
            audio_codec=audio_codec,
            fifo_input=fifo_input,
            args_file=args_file,
            front_hls=front_hls,
        )

    # --- a session's events ------------------------------------------------------------------------
    def started(self, session: Session) -> bool:
        previous = self.current
        if previous is not None and previous is not session and self.live:
            # It came back while the newcomer connected: a sending publisher is never displaced.
            self.log.info("%s publisher refused: the %s session is live again", session.kind, previous.kind)
            return False
        if previous is not None and previous is not session:
            self.log.info("%s publisher displaces the silent %s session", session.kind, previous.kind)
            asyncio.get_running_loop().create_task(previous.process.stop(grace=1))
        self.current = session
        self._changed()
        self.feed.start_session()
        if renditions(self.config):
            self.transcoded_feed.start_session()
        self.started_at, self.finished_at = utc_now(), None
        protocol = publish_protocol(session.kind, session.tls)
        self.history.start(time.monotonic(), self.started_at, protocol, session.facts)
        self.counted.inc()
        self.log.info("%s session started", session.kind)
        for other in self.listeners:  # one publisher at a time: the other protocol stands down
            if other is not session:
                asyncio.get_running_loop().create_task(other.process.stop(grace=1))
        self.on_air.own_started(time.monotonic())  # on air at once, unless the backup's media holds the air
        return True

    def media(self, chunk: bytes) -> None:
        self.feed.publish(chunk)
        self.last_media = time.monotonic()
        self.history.media(self.last_media, len(chunk))
        self.on_air.own_media(self.last_media)

    def progress(self, progress: Progress) -> None:
        self.history.frames(progress.frame)
        if self.on_air.serves(self.current):
            self.meter.add(time.monotonic(), progress, self.feed.bytes_in)

    def ended(self, session: Session, rc: int | None) -> None:
        if self.current is not session:  # refused, or displaced: the live session is another one
            self.log.info("%s publisher gone (ffmpeg exit %s)", session.kind, rc)
            return
        self.current = None
        self._changed()
        self.feed.end_session()
        self.transcoded_feed.end_session()
        self.finished_at = utc_now()
        self.history.end(time.monotonic(), self.finished_at)
        self.log.info("%s session ended (ffmpeg exit %s)", session.kind, rc)
        self.on_air.own_ended(time.monotonic())
        self.on_air_changed()

    # --- the silence watch -------------------------------------------------------------------------
    async def silence_watch(self, stopping: asyncio.Event) -> None:
        """End a session that sends nothing for `publisher_timeout` s, whatever its protocol: the RTMP
        gate and SRT's read timeout cut a silent publisher's connection; this also catches one that
        sends bytes but no media. It sleeps until the session's deadline (its last media plus the
        timeout) and looks again then, not every half second: a sending session costs a wake per
        timeout, none per batch (lean-ingest.md, "A quiet supervisor")."""
        timeout, changed = self.config.publisher_timeout, self.watch()
        while not stopping.is_set():
            changed.clear()
            session = self.current
            wait: float | None = None  # no session: until one starts
            if session is not None:
                wait = self.last_media + timeout - time.monotonic()
                if wait <= 0:
                    self.log.warning("%s session sent nothing for %g s: ending it", session.kind, timeout)
                    await session.process.stop(grace=1)
                    wait = STOPPED_RECHECK_SECONDS
            await until_set((stopping, changed), wait)
