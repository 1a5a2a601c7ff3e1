"""Whose media the ingest serves (media/ingest/on_air.py), driven by the clock given: the primary's own
session on air as it starts, the backup's relayed feed when the own media stops (and asked for before
that), the own media back once steady for the failback's stable seconds, and the backup's uplink
refused unless signed with the stream key and wanted. The host is a stand-in for the worker (our own
protocol, OnAirHost); with FFmpeg and two ingests: tests/media/test_failover.py."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from aiohttp.test_utils import make_mocked_request
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.backup_link import AUTH_HEADER, FAILBACK_HEADER, uplink_token
from streamops.media.ingest.failover import Flow
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.on_air import OnAir

KEY = b"stream-key-0123456789"
CONFIG = {"stream": "cam", "source": {"push": {}}}
log = logging.getLogger("test.on_air")


@dataclass
class Host:
    """The worker as OnAir sees it: its own session, feeds, the stream key; what went on air."""

    config: IngestConfig = field(
        default_factory=lambda: IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}})
    )
    current: Any = None
    feed: FeedHub = field(default_factory=FeedHub)
    transcoded_feed: FeedHub = field(default_factory=FeedHub)
    meter: Any = None
    key: bytes | None = KEY
    aired: list[tuple[Any, FeedHub]] = field(default_factory=list)

    def read_key(self) -> bytes | None:
        return self.key

    def relay_session(self) -> Any:
        raise AssertionError("no relay in these tests")

    def go_on_air(self, session: Any, feed: FeedHub, transcoded: FeedHub) -> None:
        self.aired.append((session, feed))


def session() -> Any:
    return SimpleNamespace(started=True)


def test_the_own_session_goes_on_air_as_it_starts_and_the_backup_is_asked_for_when_it_stops():
    host = Host(current=session())
    on_air = OnAir(host, relays=True, log=log)  # type: ignore[arg-type]
    assert not on_air.sending(100.0) and on_air.active_ingest("primary", 100.0) is None
    on_air.own_started(100.0)
    assert host.aired == [(host.current, host.feed)] and on_air.serves(host.current) and on_air.role == "primary"
    assert on_air.sending(101.0) and on_air.active_ingest("primary", 101.0) == "primary" and not on_air.wanted
    on_air.update(101.5)  # no media for 1.5 s: prepare the backup
    assert on_air.wanted and not OnAir(host, relays=False, log=log).wanted  # type: ignore[arg-type]
    on_air.own_ended(102.0)
    assert not on_air.sending(102.0) and on_air.serves(host.current), "what was on air stays: its feed ended"


def test_the_backup_takes_over_and_the_own_media_comes_back_once_steady():
    host = Host(current=session())
    on_air = OnAir(host, relays=True, log=log)  # type: ignore[arg-type]
    on_air.own_started(100.0)
    on_air.relay = session()
    on_air.backup = Flow.started(100.0).media(102.5)
    on_air.update(102.5)  # own silent for 2.5 s, the backup sends
    assert on_air.role == "backup" and host.aired[-1] == (on_air.relay, on_air.relay_feed) and on_air.switches == 1
    assert on_air.active_ingest("primary", 102.6) == "backup"
    for now in (103.0, 103.5, 104.0):
        on_air.own_media(now)
        on_air.backup = on_air.backup.media(now)
    on_air.update(104.0)
    assert on_air.role == "backup", "the own media is not steady for the stable seconds yet"
    on_air.stable_seconds = 1
    on_air.update(104.0)
    assert on_air.role == "primary" and host.aired[-1] == (host.current, host.feed) and on_air.switches == 2


def test_an_uplink_is_refused_unless_signed_with_the_stream_key_and_wanted():
    host = Host(current=session())
    on_air = OnAir(host, relays=True, log=log)  # type: ignore[arg-type]
    on_air.own_started(time.monotonic())
    signed = {FAILBACK_HEADER: "30", AUTH_HEADER: uplink_token(KEY, "cam", 30, time.time())}

    def answer(headers: dict[str, str]) -> tuple[int, str]:
        response = asyncio.run(on_air.receive_uplink(make_mocked_request("POST", "/backup/uplink", headers=headers)))
        return response.status, response.text  # type: ignore[attr-defined]

    assert answer({}) == (403, "not signed with the stream's key")
    assert answer({**signed, AUTH_HEADER: uplink_token(b"another-key", "cam", 30, time.time())})[0] == 403
    assert answer({**signed, FAILBACK_HEADER: "0"})[0] == 403
    assert answer(signed) == (409, "the primary does not want the backup's feed now")
    on_air.wanted, on_air.receiving = True, True
    assert answer(signed) == (409, "the primary receives another backup feed")
    host.key = None
    assert answer(signed)[0] == 403


def test_a_yield_puts_the_backup_on_air_and_a_closed_ingest_asks_for_nothing():
    """Issue 56's planned switchover: yielding (a lease) the backup goes on air though the own media
    flows; an ingest that takes no media (a handover's following successor, a released predecessor)
    neither asks for the backup nor yields."""
    host = Host(current=session())
    on_air = OnAir(host, relays=True, log=log)  # type: ignore[arg-type]
    on_air.own_started(100.0)
    on_air.own_media(101.0)
    on_air.relay = session()
    on_air.backup = Flow.started(100.5).media(101.0)
    on_air.yield_until = 105.0
    on_air.update(101.0)
    assert on_air.role == "backup" and on_air.wanted
    for tick in range(2, 23):  # both send, every 0.5 s; the lease ends at 105
        now = 101.0 + tick / 2
        on_air.own_media(now)
        on_air.backup = on_air.backup.media(now)
        on_air.update(now)
        # The lease is over at 105; the own media, unbroken since 100, is back once stable (10 s).
        assert on_air.role == ("backup" if now < 110.0 else "primary"), now
    assert on_air.role == "primary" and not on_air.wanted

    async def closing() -> int:
        await on_air.close(True)
        assert not on_air.wanted
        return (await on_air.yield_air(make_mocked_request("POST", "/handover/yield"))).status

    assert asyncio.run(closing()) == 409


def test_only_the_backups_media_or_a_yield_make_the_decision_tick():
    """Issue 53's quiet supervisor: with the own media alone, time changes nothing on air (run()
    waits for an event); the own media resuming takes the air back at once, and the status asks
    again whether the backup is wanted."""
    host = Host(current=session())
    on_air = OnAir(host, relays=True, log=log)  # type: ignore[arg-type]
    on_air.own_started(100.0)
    assert not on_air.time_driven(100.0) and not on_air.time_driven(500.0)
    assert on_air.wants_backup(101.5) and not on_air.wants_backup(100.5), "taken again when asked"
    on_air.relay = session()
    on_air.backup = Flow.started(100.0).media(103.0)
    assert on_air.time_driven(103.0) and not on_air.time_driven(105.0), "while the backup's media flows"
    on_air.update(103.0)  # own silent for 3 s: the backup on air
    assert on_air.role == "backup"
    on_air.backup = Flow()  # the relay gone silent; nothing ticks any more
    on_air.update(106.0)
    assert on_air.role == "backup" and not on_air.time_driven(106.0)
    on_air.own_media(107.0)  # the own media resumes: back on air at once
    assert on_air.role == "primary" and host.aired[-1] == (host.current, host.feed)
    on_air.yield_until = 120.0
    assert on_air.time_driven(110.0) and not on_air.time_driven(120.0)


def test_run_waits_for_an_event_while_time_changes_nothing():
    async def check() -> None:
        host = Host(current=session())
        on_air = OnAir(host, relays=True, log=log)  # type: ignore[arg-type]
        on_air.own_started(time.monotonic())
        stopping = asyncio.Event()
        runs = asyncio.create_task(on_air.run(stopping))
        try:
            # A yield wakes it: the backup's media (none here) would go on air at the next tick.
            response = await on_air.yield_air(make_mocked_request("POST", "/handover/yield"))
            assert response.status == 202 and on_air.wanted
        finally:
            stopping.set()
            await asyncio.wait_for(runs, timeout=30)

    asyncio.run(check())
