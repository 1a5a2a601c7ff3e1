"""The pull loop (pull_loop.PullLoop) without FFmpeg or the network: URLs tried round-robin, the
last failure said, the egress guard's refusal and the deactivation after the inactivity timeout.
Its sessions and the guard are stand-ins; one attempt's FFmpeg options and an RTSP camera's
credentials: test_rtsp_pull.py; real origins: tests/media/test_pull_egress.py, test_rtsp_pull.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from streamops.contract.ingest import IngestConfig
from streamops.egress.media_destinations import PinnedMedia
from streamops.media.ingest.pull_egress import NOT_RESOLVED, PullEgress
from streamops.media.ingest.pull_loop import PullLoop
from streamops.media.ingest.session import Session
from streamops.media.ingest.sessions import OwnSessions
from streamops.redaction import Redactor

ORIGINS = ["rtmp://10.0.0.5/live/a", "rtmp://10.0.0.6/live/b"]


class Process:
    def __init__(self, error: str) -> None:
        self.tail = [error]
        self.error = error
        self.stopped = asyncio.Event()

    def last_error(self) -> str:
        return self.error

    async def stop(self, grace: float = 5) -> int:
        self.stopped.set()
        return 0


class Attempt:
    """A pull session: `then()` runs as it would (media flows or not); True: media flowed."""

    def __init__(self, kind: str, url: str, then: Callable[[Attempt], bool | None]) -> None:
        self.kind, self.url, self.then, self.args_file = kind, url, then, None
        self.process = Process("Connection refused")

    async def run(self) -> bool:
        flowed = self.then(self)
        if flowed is None:  # runs until stopped
            await self.process.stopped.wait()
            return False
        return flowed


class Own:
    """What the pull loop uses of OwnSessions: the last media's time, the listeners, new sessions."""

    def __init__(self, plays: dict[str, Callable[[Attempt], bool | None]]) -> None:
        self.plays, self.last_media = plays, 0.0
        self.listeners: list[Session] = []
        self.made: list[Attempt] = []

    def new_session(self, kind: str, url: str, options: dict[str, Any], **_: Any) -> Session:
        self.made.append(made := Attempt(kind, url, self.plays[url]))
        return cast(Session, made)


class Guard:
    """The egress guard: lets every URL through but `refused`."""

    def __init__(self, refused: tuple[str, ...] = ()) -> None:
        self.refused, self.started = refused, False

    async def start(self, urls: list[str]) -> None:
        self.started = True

    async def close(self) -> None:
        pass

    async def attempt(self, url: str) -> PinnedMedia:
        if url in self.refused:
            raise OSError("does not resolve")
        return PinnedMedia(url)

    def refused_during(self) -> bool:
        return False


def pull_loop(tmp_path: Path, own: Own, urls: list[str], guard: Guard) -> PullLoop:
    config = IngestConfig.model_validate(
        {"stream": "cam", "source": {"pull": {"urls": urls, "inactivityTimeoutSeconds": 10}}, "mediaDir": str(tmp_path)}
    )
    loop = PullLoop(config, cast(OwnSessions, own), tmp_path, Redactor(), logging.getLogger("test"))
    loop.egress = cast(PullEgress, guard)
    return loop


def test_urls_are_tried_round_robin_and_the_last_failure_is_said(tmp_path):
    async def check() -> None:
        stopping, seen = asyncio.Event(), []

        def first_url(_: Attempt) -> bool | None:
            if not seen:  # no media the first time; the second time it runs until stopped
                seen.append("failed")
                return False
            seen.append((loop.failure, list(own.listeners)))
            stopping.set()
            return None

        own = Own({ORIGINS[0]: first_url, ORIGINS[1]: lambda _: True})
        loop = pull_loop(tmp_path, own, ORIGINS, Guard())
        await asyncio.wait_for(loop.run(stopping), timeout=60)
        assert [(a.kind, a.url) for a in own.made] == [
            ("pull-0", ORIGINS[0]),
            ("pull-1", ORIGINS[1]),
            ("pull-0", ORIGINS[0]),
        ]
        assert seen == ["failed", (None, [own.made[-1]])], "the second URL gave media: no failure to say"
        assert loop.active and loop.index == 2 and own.made[-1].process.stopped.is_set()

    asyncio.run(check())


def test_a_failure_says_what_ffmpeg_said(tmp_path):
    async def check() -> None:
        stopping = asyncio.Event()
        first, second = ORIGINS
        own = Own({first: lambda _: False, second: lambda _: stopping.set()})
        loop = pull_loop(tmp_path, own, ORIGINS, Guard())
        await asyncio.wait_for(loop.run(stopping), timeout=60)
        assert loop.failure is not None and (loop.failure.url_index, loop.failure.url) == (0, first)
        assert loop.failure.message == "Connection refused"

    asyncio.run(check())


def test_a_url_the_guard_refuses_is_not_tried(tmp_path):
    async def check() -> None:
        stopping = asyncio.Event()
        first, second = ORIGINS
        own = Own({second: lambda _: stopping.set()})
        guard = Guard(refused=(first,))
        loop = pull_loop(tmp_path, own, ORIGINS, guard)
        await asyncio.wait_for(loop.run(stopping), timeout=60)
        assert guard.started and [a.url for a in own.made] == [second], "no session for the refused URL"
        assert loop.failure is not None and loop.failure.message == NOT_RESOLVED

    asyncio.run(check())


def test_no_media_for_the_inactivity_timeout_deactivates_the_stream(tmp_path):
    async def check() -> None:
        def silent(_: Attempt) -> bool:
            own.last_media = time.monotonic() - 11  # as if the timeout (10 s) went by without media
            return False

        own = Own({ORIGINS[0]: silent})
        loop = pull_loop(tmp_path, own, ORIGINS[:1], Guard())
        await asyncio.wait_for(loop.run(asyncio.Event()), timeout=60)  # it ends by itself
        assert not loop.active and loop.deactivated_reason == "no data for 10 s from any pull URL"
        assert len(own.made) == 1

    asyncio.run(check())
