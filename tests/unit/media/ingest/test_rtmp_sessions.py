"""The RTMP front's sessions (rtmp_sessions.RtmpSessions) without FFmpeg or the front: which
session an admitted publisher goes to (the idle listener, else one standby), when none does, and
the publisher cut when its session ends. The sessions are stand-ins whose run() ends when told;
with the front and FFmpeg: tests/media/test_rtmp_front.py, test_ingest_robustness.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.rtmp_front import HlsAdmission, RtmpFront
from streamops.media.ingest.rtmp_sessions import RtmpSessions
from streamops.media.ingest.session import Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor


class Process:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def stop(self, grace: float = 5) -> int:
        self.publisher.done.set()
        return 0


class Publisher:
    """What RtmpSessions reads of a Session: its FIFO, the front's id, and run(); whether the front
    writes its HLS, and what `admit` then asks of it."""

    def __init__(self, kind: str, fifo_input: Path | None, front_hls: bool = False) -> None:
        self.kind, self.fifo_input, self.front_hls = kind, fifo_input, front_hls
        self.front_id: int | None = None
        self.tls = self.started = self.ended = False
        self.done = asyncio.Event()
        self.process = Process(self)

    @property
    def takes_publisher(self) -> bool:
        return self.fifo_input is not None and self.front_id is None and not self.ended

    def front_hls_request(self) -> dict[str, Any]:
        return {"ts_dir": f"/m/{self.fifo_input}/ts"}

    async def run(self) -> bool:
        await self.done.wait()
        self.ended = True
        return self.started


class Own:
    """What RtmpSessions uses of OwnSessions."""

    def __init__(self, **config: Any) -> None:
        self.config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, **config})
        self.live = False
        self.current: Session | None = None
        self.listeners: list[Session] = []
        self.made: list[Publisher] = []

    def new_session(
        self, kind: str, url: str, options: dict[str, Any], fifo_input: Path | None = None, front_hls: bool = False
    ) -> Session:
        self.made.append(made := Publisher(kind, fifo_input, front_hls))
        return cast(Session, made)


class Front:
    def __init__(self) -> None:
        self.closed: list[int] = []

    def close(self, front_id: int) -> None:
        self.closed.append(front_id)


def rtmp_sessions(tmp_path: Path, own: Own, active: bool = True, front: Front | None = None) -> RtmpSessions:
    sessions = cast(OwnSessions, own)
    return RtmpSessions(
        sessions, tmp_path, lambda: cast(RtmpFront, front), lambda: active, Redactor(), logging.getLogger("test")
    )


def running(check: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(check())


def test_a_session_reads_flv_from_a_fifo_of_its_own(tmp_path):
    own = Own()
    first, second = rtmp_sessions(tmp_path, own).session(), rtmp_sessions(tmp_path, own).session()
    assert first.kind == "rtmp" and first.fifo_input is not None and first.fifo_input.parent == tmp_path
    assert first.fifo_input != second.fifo_input and first.fifo_input.suffix == ".flv"


def test_an_inactive_stream_or_a_live_one_admits_nobody(tmp_path):
    own = Own()
    assert rtmp_sessions(tmp_path, own, active=False).admit(1, tls=False) == "inactive"
    own.live = True
    assert rtmp_sessions(tmp_path, own).admit(1, tls=False) == "busy"
    assert own.made == [], "no session made for a refusal"


def test_the_idle_listener_takes_the_publisher(tmp_path):
    own = Own()
    admission = rtmp_sessions(tmp_path, own)
    srt, idle = cast(Session, Publisher("srt", None)), admission.session()
    own.listeners = [srt, idle]
    assert admission.admit(7, tls=True) == idle.fifo_input
    assert (idle.front_id, idle.tls) == (7, True) and admission.standby is None


def test_a_taken_listener_leaves_the_newcomer_to_one_standby(tmp_path):
    async def check() -> None:
        own = Own()
        admission = rtmp_sessions(tmp_path, own, front=Front())
        taken = admission.session()
        taken.front_id = 1
        own.listeners = [taken]
        fifo = admission.admit(2, tls=False)
        standby = admission.standby
        assert standby is not None and fifo == standby.fifo_input and standby.front_id == 2
        assert admission.admit(3, tls=False) == "busy", "one newcomer at a time beside the idle listener"
        await standby.process.stop()  # its publisher sent nothing, or went away
        await asyncio.wait_for(asyncio.gather(*admission._standby_tasks), timeout=30)
        assert admission.standby is None
        assert admission.admit(4, tls=False) != "busy", "the next newcomer gets a standby again"
        await cast(Session, own.made[-1]).process.stop()
        await asyncio.wait_for(asyncio.gather(*admission._standby_tasks), timeout=30)

    running(check)


def test_a_session_that_ends_cuts_its_publisher_at_the_front(tmp_path):
    async def check() -> None:
        own, front = Own(), Front()
        admission = rtmp_sessions(tmp_path, own, front=front)
        admitted, listener = admission.session(), admission.session()
        admitted.front_id = 9
        for session in (admitted, listener):
            await session.process.stop()
            assert await admission.run_session(session) is False
        assert front.closed == [9], "only a session the front handed a publisher to"

    running(check)


class Stream:
    """What a handover's successor tells RtmpSessions: active (takes publishers), taking over."""

    def __init__(self) -> None:
        self.active, self.taking_over = False, True


def successor(tmp_path: Path, own: Own, stream: Stream) -> RtmpSessions:
    return RtmpSessions(
        cast(OwnSessions, own),
        tmp_path,
        lambda: None,
        lambda: stream.active,
        Redactor(),
        logging.getLogger("test"),
        taking_over=lambda: stream.taking_over,
    )


def test_a_successor_taking_over_holds_a_publisher_until_it_is_active(tmp_path):
    async def check() -> None:
        own, stream = Own(), Stream()
        admission = successor(tmp_path, own, stream)
        idle = admission.session()
        own.listeners = [idle]
        held = admission.admit(5, tls=False)
        assert not isinstance(held, Path | str), "held, not refused inactive"
        answer = asyncio.create_task(held)
        await asyncio.sleep(0)
        admission.activated()  # woken while still inactive: held on
        await asyncio.sleep(0)
        assert not answer.done() and idle.front_id is None
        stream.active = True  # the successor read `released`
        admission.activated()
        assert await asyncio.wait_for(answer, timeout=30) == idle.fifo_input
        assert idle.front_id == 5

    running(check)


def test_a_held_publisher_is_refused_inactive_once_the_bound_passed(tmp_path):
    async def check() -> None:
        own, stream = Own(), Stream()
        admission = successor(tmp_path, own, stream)
        admission.hold_seconds = 0.2
        own.listeners = [admission.session()]
        loop = asyncio.get_running_loop()
        began = loop.time()
        held = admission.admit(5, tls=False)
        assert not isinstance(held, Path | str)
        assert await held == "inactive"
        assert loop.time() - began >= 0.2, "refused only after the bound"
        assert own.listeners[0].front_id is None

    running(check)


def test_an_inactive_stream_not_taking_over_refuses_at_once(tmp_path):
    stream = Stream()
    stream.taking_over = False
    assert successor(tmp_path, Own(), stream).admit(1, tls=False) == "inactive"


def test_with_the_front_writing_hls_a_publisher_is_admitted_with_it_until_its_media_is_refused(tmp_path, caplog):
    """hlsWriter front: the listener's FFmpeg writes no HLS and `admit` asks the front to. A `mux`
    event with `unsupported` (a codec its writers do not take) ends the session (the publisher is
    cut, as by a failing FFmpeg HLS output) and FFmpeg writes the HLS from the next session on: a
    listener made before is not handed a publisher."""

    async def check() -> None:
        own, front = Own(hlsWriter="front"), Front()
        admission = rtmp_sessions(tmp_path, own, front=front)
        idle = admission.session()
        own.listeners = [idle]
        assert idle.front_hls, "its FFmpeg writes the feed alone"
        answer = admission.admit(3, tls=False)
        assert answer == HlsAdmission(idle.fifo_input, {"ts_dir": f"/m/{idle.fifo_input}/ts"})  # type: ignore[arg-type]
        own.current = idle
        running = asyncio.create_task(admission.run_session(idle))
        admission.mux_failed(4, "another session's", unsupported=False)
        await asyncio.sleep(0)
        assert not running.done() and admission.front_hls, "another session's error ends nothing here"
        admission.mux_failed(3, "mux: unsupported: FLV video codec 2", unsupported=True)
        await asyncio.wait_for(running, timeout=30)
        assert front.closed == [3] and not admission.front_hls
        assert caplog.text.count("do not take this publisher's media (mux: unsupported: FLV video codec 2)") == 1
        own.current = None
        assert not admission.session().front_hls, "the next sessions' FFmpeg writes the HLS"
        stale = cast(Session, Publisher("rtmp", tmp_path / "stale.flv", front_hls=True))
        own.listeners = [stale]
        fifo = admission.admit(5, tls=False)
        standby = admission.standby
        assert standby is not None and fifo == standby.fifo_input and not standby.front_hls
        await asyncio.sleep(0)  # its stop's task
        assert cast(Publisher, stale).done.is_set() and stale.front_id is None, "the stale listener is stopped"
        await standby.process.stop()
        await asyncio.wait_for(asyncio.gather(*admission._standby_tasks), timeout=30)

    running(check)


def test_a_failing_hls_writer_ends_its_session_and_the_front_keeps_writing_the_next(tmp_path):
    """A `mux` event without `unsupported` (a file error, malformed media) ends the session as a
    failing FFmpeg HLS output does; the next publisher's HLS is the front's again."""

    async def check() -> None:
        own, front = Own(hlsWriter="front"), Front()
        admission = rtmp_sessions(tmp_path, own, front=front)
        idle = admission.session()
        own.listeners = [idle]
        assert isinstance(admission.admit(3, tls=False), HlsAdmission)
        own.current = idle
        admission.mux_failed(3, "write /m/s/ts/seg-000001.ts: no space left on device", unsupported=False)
        assert await asyncio.wait_for(admission.run_session(idle), timeout=30) is False
        assert front.closed == [3] and admission.front_hls and admission.session().front_hls

    running(check)


def test_a_stream_asking_for_what_the_fronts_writers_do_not_do_keeps_ffmpegs_hls(tmp_path, caplog):
    own = Own(hlsWriter="front", dash=True)
    with caplog.at_level(logging.INFO):
        admission = rtmp_sessions(tmp_path, own)
    assert not admission.front_hls and not admission.session().front_hls
    assert "hlsWriter front ignored: the RTMP front's HLS writers do no DASH" in caplog.text
    own.listeners = list(own.made)  # type: ignore[arg-type]
    assert isinstance(admission.admit(1, tls=False), Path)
