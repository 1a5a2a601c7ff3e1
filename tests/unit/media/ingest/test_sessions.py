"""The worker's own sessions (sessions.OwnSessions) without FFmpeg: which session is live, what a
start, media, progress and end change, and the silence watch. The sessions are stand-ins with
what OwnSessions reads of one; on_air is a recorder of what it is told. With FFmpeg and real
publishers: tests/media/test_ingest_robustness.py."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter
from streamops.contract.ingest import IngestConfig
from streamops.media.ffmpeg import Progress, SourceFacts
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.session import LiveMeter, Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor

log = logging.getLogger("test")


def standing() -> float:
    """The feeds' clock: media published stays flowing (no silence) however slow the machine."""
    return 0.0


class Process:
    def __init__(self, stopped: Callable[[], None] = lambda: None) -> None:
        self.stops: list[float] = []
        self.stopped = stopped

    async def stop(self, grace: float = 5) -> int:
        self.stops.append(grace)
        self.stopped()
        return 0


@dataclass
class Publisher:
    """What OwnSessions reads of a Session."""

    kind: str
    tls: bool = False
    facts: SourceFacts = field(default_factory=SourceFacts)
    process: Process = field(default_factory=Process)


class Air:
    """on_air.OnAir as the own sessions see it: what it was told, and whose media it serves."""

    def __init__(self) -> None:
        self.told: list[str] = []
        self.serving: Session | None = None

    def own_started(self, now: float) -> None:
        self.told.append("started")

    def own_media(self, now: float) -> None:
        self.told.append("media")

    def own_ended(self, now: float) -> None:
        self.told.append("ended")

    def serves(self, session: Session | None) -> bool:
        return session is not None and session is self.serving


@dataclass
class Own:
    sessions: OwnSessions
    air: Air
    registry: CollectorRegistry
    changes: list[str]

    def counted(self) -> float | None:
        return self.registry.get_sample_value("sessions_total")


def own(tmp_path: Path, **config: Any) -> Own:
    ingest = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "mediaDir": str(tmp_path), **config})
    air, registry, changes = Air(), CollectorRegistry(), []
    sessions = OwnSessions(
        ingest,
        tmp_path / "sessions",
        Redactor(),
        (FeedHub(clock=standing), FeedHub(clock=standing)),
        air,
        LiveMeter(),
        Counter("sessions", "sessions", registry=registry),
        lambda: changes.append("on air changed"),
        lambda session: changes.append(f"captions of {session.kind}"),
        log,
    )
    return Own(sessions, air, registry, changes)


def running(check: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(check())


def session(kind: str, process: Process | None = None) -> Session:
    return cast(Session, Publisher(kind, process=process or Process()))


def test_the_first_session_goes_on_air_and_is_counted(tmp_path):
    async def check() -> None:
        o, rtmp = own(tmp_path), session("rtmp")
        assert o.sessions.started(rtmp) is True
        assert o.sessions.current is rtmp and o.sessions.feed.live and not o.sessions.transcoded_feed.live
        assert o.sessions.started_at is not None and o.sessions.finished_at is None
        assert [s.protocol for s in o.sessions.history.report(time.monotonic())] == ["rtmp"]
        assert o.counted() == 1 and o.air.told == ["started"]

    running(check)


def test_a_ladder_starts_the_transcoded_feed_too(tmp_path):
    async def check() -> None:
        o = own(tmp_path, transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]})
        o.sessions.started(session("srt"))
        assert o.sessions.transcoded_feed.live

    running(check)


def test_a_sending_publisher_is_never_displaced(tmp_path):
    async def check() -> None:
        o, first, second = own(tmp_path), session("rtmp"), session("srt")
        o.sessions.started(first)
        o.sessions.media(b"\x47" + bytes(187))
        assert o.sessions.live
        assert o.sessions.started(second) is False, "refused: the live one sends"
        await asyncio.sleep(0)
        assert o.sessions.current is first and cast(Publisher, first).process.stops == []
        assert o.counted() == 1

    running(check)


def test_a_silent_session_is_displaced_and_the_other_listeners_stand_down(tmp_path):
    async def check() -> None:
        o, silent, srt_listener, newcomer = own(tmp_path), session("rtmp"), session("srt"), session("rtmp")
        o.sessions.started(silent)  # no media: not live
        o.sessions.listeners = [srt_listener, newcomer]
        assert o.sessions.started(newcomer) is True
        await asyncio.sleep(0)  # the stops run as tasks
        stops = [cast(Publisher, s).process.stops for s in (silent, srt_listener, newcomer)]
        assert stops == [[1], [1], []]
        assert o.sessions.current is newcomer and o.counted() == 2

    running(check)


def test_only_the_live_session_ending_ends_the_feed(tmp_path):
    async def check() -> None:
        o, live, refused = own(tmp_path), session("rtmp"), session("srt")
        o.sessions.started(live)
        o.sessions.ended(refused, 0)
        assert o.sessions.current is live and o.sessions.feed.live and o.changes == []
        o.sessions.ended(live, 0)
        assert o.sessions.current is None and not o.sessions.feed.live
        assert o.sessions.finished_at is not None and o.air.told == ["started", "ended"]
        assert o.changes == ["on air changed"]

    running(check)


def test_media_tells_on_air_and_progress_meters_only_what_it_serves(tmp_path):
    async def check() -> None:
        o, rtmp = own(tmp_path), session("rtmp")
        o.sessions.started(rtmp)
        before = time.monotonic()
        o.sessions.media(b"\x47" + bytes(187))
        assert o.sessions.last_media >= before and o.air.told == ["started", "media"]
        o.sessions.progress(Progress(frame=25, out_time_us=1_000_000))
        assert not o.sessions.meter.samples, "the backup's relay is on air, not this session"
        o.air.serving = rtmp
        o.sessions.progress(Progress(frame=50, out_time_us=2_000_000))
        assert len(o.sessions.meter.samples) == 1

    running(check)


def test_captions_are_handed_on(tmp_path):
    o = own(tmp_path)
    o.sessions.events.on_captions(session("whip"))
    assert o.changes == ["captions of whip"]


def test_a_new_session_reports_to_the_own_sessions(tmp_path):
    o = own(tmp_path)
    made = o.sessions.new_session("rtmp", "pipe:0", {}, fifo_input=tmp_path / "f.flv")
    try:
        assert made.events is o.sessions.events and made.kind == "rtmp" and made.fifo_input == tmp_path / "f.flv"
        assert made.dir.parent == tmp_path / "sessions"
    finally:
        for fd in made.feed_pipe:
            os.close(fd)


def test_the_silence_watch_ends_a_session_that_sends_nothing(tmp_path):
    async def check() -> None:
        o, stopping = own(tmp_path, publisherTimeoutSeconds=1), asyncio.Event()
        o.sessions.current = silent = session("rtmp", Process(stopped=stopping.set))
        o.sessions.last_media = time.monotonic() - 1  # its timeout has passed
        await asyncio.wait_for(o.sessions.silence_watch(stopping), timeout=30)
        assert cast(Publisher, silent).process.stops == [1]

    running(check)


def test_the_silence_watch_leaves_a_sending_session(tmp_path):
    async def check() -> None:
        o, stopping = own(tmp_path, publisherTimeoutSeconds=60), asyncio.Event()
        o.sessions.current = sending = session("rtmp")
        o.sessions.last_media = time.monotonic()
        asyncio.get_running_loop().call_soon(stopping.set)  # after the watch's first look
        await asyncio.wait_for(o.sessions.silence_watch(stopping), timeout=30)
        assert cast(Publisher, sending).process.stops == []

    running(check)


def test_the_silence_watch_sleeps_until_a_session_starts_then_until_its_deadline(tmp_path):
    """Issue 53's quiet supervisor: no session, no timer; a session that starts wakes the watch,
    which ends it at its last media plus the timeout, not at a tick of its own."""

    async def check() -> None:
        o, stopping = own(tmp_path, publisherTimeoutSeconds=1), asyncio.Event()
        watch = asyncio.create_task(o.sessions.silence_watch(stopping))
        await asyncio.sleep(0)  # the watch waits, with no session
        silent = session("rtmp", Process(stopped=stopping.set))
        assert o.sessions.started(silent) is True
        o.sessions.last_media = time.monotonic()  # its first media; none after it
        started = time.monotonic()
        await asyncio.wait_for(watch, timeout=30)
        assert cast(Publisher, silent).process.stops == [1]
        assert time.monotonic() - started >= 1 - 0.01, "not before its timeout"

    running(check)


def test_a_session_starting_or_ending_sets_every_watchers_event(tmp_path):
    async def check() -> None:
        o, rtmp = own(tmp_path), session("rtmp")
        first, second = o.sessions.watch(), o.sessions.watch()
        o.sessions.started(rtmp)
        assert first.is_set() and second.is_set()
        first.clear()
        o.sessions.ended(rtmp, 0)
        assert first.is_set()

    running(check)
