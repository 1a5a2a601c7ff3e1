"""The relay child (media/pusher/relay_process.py) with a stand-in for `streamops-relay` (a script
speaking its JSON lines): events reach their run, a closed run ends, and a relay that exits ends
every open run as a target failure."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest
from streamops.egress.media_destinations import PinnedMedia
from streamops.media.pusher.relay_command import relay_open
from streamops.media.pusher.relay_process import RelayProcess

FAKE = """#!{python}
import json, sys
split = {{}}
for line in sys.stdin:
    c = json.loads(line)
    if c["op"] == "open" and c["app"] == "die":
        sys.exit(3)
    if c["op"] == "open" and c["app"] == "split":  # a line cut across two writes, the close in between
        connected = json.dumps({{"id": c["id"], "event": "connected", "bytes": 1000, "local": "127.0.0.1:5"}})
        split[c["id"]] = connected[20:]
        sys.stdout.write(json.dumps({{"id": c["id"], "event": "connecting"}}) + "\\n" + connected[:20])
        sys.stdout.flush()
    elif c["op"] == "close" and c["id"] in split:
        rest = [json.dumps({{"id": c["id"], "event": e, "bytes": 2000}}) for e in ("sent", "ended")]
        sys.stdout.write(split.pop(c["id"]) + "\\n" + "\\n".join(rest) + "\\n")
        sys.stdout.flush()
    elif c["op"] == "open":
        if c["app"] == "said":
            said = "feed http://ingest/feed: its session ended; the next came 0.9 s later (8 tries)"
            print(said, file=sys.stderr, flush=True)
        for e in ("connecting", "connected", "sent"):
            print(json.dumps({{"id": c["id"], "event": e, "bytes": 1000}}), flush=True)
    else:
        print(json.dumps({{"id": c["id"], "event": "ended", "reason": "closed"}}), flush=True)
"""


def fake_relay(tmp_path: Path) -> RelayProcess:
    script = tmp_path / "fake-relay"
    script.write_text(FAKE.format(python=sys.executable))
    script.chmod(0o700)
    return RelayProcess(str(script))


def command(run_id: str, app: str) -> object:
    pinned = PinnedMedia(url=f"rtmp://127.0.0.1:1935/{app}")
    return relay_open(run_id, "http://127.0.0.1:1/feed", None, f"rtmp://127.0.0.1:1935/{app}", pinned, "k", None, False)


async def events_until(run: object, kind: str) -> list[str]:
    seen: list[str] = []
    while True:
        event = await asyncio.wait_for(run.events.get(), 10)  # type: ignore[attr-defined]
        seen.append(event["event"])
        if event["event"] == kind:
            return seen


def test_events_reach_their_run_and_a_closed_run_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = fake_relay(tmp_path)
        assert relay.available
        try:
            run = await relay.open(command(relay.new_run_id("a"), "live"))  # type: ignore[arg-type]
            assert await events_until(run, "sent") == ["connecting", "connected", "sent"]
            relay.close(run)
            assert await events_until(run, "ended") == ["ended"] and run.ended
        finally:
            await relay.stop()
        assert relay.process is None

    asyncio.run(scenario())


def test_events_are_read_by_the_chunk_and_a_line_cut_across_writes_is_whole(tmp_path: Path) -> None:
    """The relay writes a second's report for every target at once; the reader takes what is there
    and keeps an unended line's start for the next read."""

    async def scenario() -> None:
        relay = fake_relay(tmp_path)
        try:
            run = await relay.open(command(relay.new_run_id("a"), "split"))  # type: ignore[arg-type]
            # Written with the first half of the next line: read together, that half waits.
            assert await events_until(run, "connecting") == ["connecting"]
            assert run.events.empty()
            relay.close(run)
            connected = await asyncio.wait_for(run.events.get(), 10)
            assert connected == {"id": run.run_id, "event": "connected", "bytes": 1000, "local": "127.0.0.1:5"}
            assert await events_until(run, "ended") == ["sent", "ended"] and run.ended
        finally:
            await relay.stop()

    asyncio.run(scenario())


def test_a_relay_that_exits_ends_every_open_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = fake_relay(tmp_path)
        try:
            kept = await relay.open(command(relay.new_run_id("a"), "live"))  # type: ignore[arg-type]
            await events_until(kept, "sent")
            await relay.open(command(relay.new_run_id("b"), "die"))  # type: ignore[arg-type]
            event = await asyncio.wait_for(kept.events.get(), 10)
            assert event["reason"] == "target-failed" and "exited" in event["error"] and kept.ended
            again = await relay.open(command(relay.new_run_id("a"), "live"))  # type: ignore[arg-type]
            assert await events_until(again, "sent") == ["connecting", "connected", "sent"], "started again"
        finally:
            await relay.stop()

    asyncio.run(scenario())


def test_what_the_relay_says_on_stderr_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A feed's session boundaries and slow tries (the relay's stderr) reach the pusher's log."""

    async def scenario() -> None:
        relay = fake_relay(tmp_path)
        try:
            run = await relay.open(command(relay.new_run_id("a"), "said"))  # type: ignore[arg-type]
            await events_until(run, "sent")
            while not any("the next came" in r.getMessage() for r in caplog.records):
                await asyncio.sleep(0.01)
        finally:
            await relay.stop()

    with caplog.at_level(logging.INFO, logger="streamops.pusher"):
        asyncio.run(asyncio.wait_for(scenario(), 10))
    [said] = [r for r in caplog.records if "the next came" in r.getMessage()]
    assert said.levelno == logging.INFO and said.getMessage().startswith("relay: feed http://ingest/feed: its session")
