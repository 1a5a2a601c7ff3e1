"""A target's supervisor (worker.Pusher) driving a run in the shared relay instead of FFmpeg: the
relay is a stand-in (our thin adapter, relay_process.RelayProcess) that plays a run's events; the
feed's PMT comes from a real loopback HTTP stand-in ingest (test_worker.py's)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from streamops.contract.pusher import PusherConfig
from streamops.media.pusher.plan import Outcome
from streamops.media.pusher.relay_command import RelayOpen
from streamops.media.pusher.relay_process import RelayRun
from streamops.media.pusher.worker import Pusher

from tests.unit.media.pusher.test_worker import AAC, H264, Ingest, feed, quick_polls  # noqa: F401 (fixture)

KEY = "sk-RELAYED-0c7e"


class StandInRelay:
    """Plays `script` (events after `connecting`) for every run it opens."""

    available = True

    def __init__(self, script: list[dict[str, Any]]) -> None:
        self.script = script
        self.opened: list[RelayOpen] = []
        self.closed: list[str] = []

    def new_run_id(self, target: str) -> str:
        return f"{target}#{len(self.opened) + 1}"

    async def open(self, command: RelayOpen) -> RelayRun:
        self.opened.append(command)
        run = RelayRun(command.run_id)
        for event in [{"event": "connecting"}, *self.script]:
            run.events.put_nowait({"id": command.run_id, **event})
            run.ended = run.ended or event["event"] == "ended"  # as RelayProcess marks it when it arrives
        return run

    def close(self, run: RelayRun) -> None:
        self.closed.append(run.run_id)


def pusher_with(relay: StandInRelay, url: str, uri: str, tmp_path: Path) -> tuple[Pusher, list[str], list[bool]]:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    cfg = {"stream": "cam", "feedUrl": url, "uri": uri, "noAudioMode": "drop", "streamKeyFile": str(key_file),
           "egress": {"allowCidrs": ["127.0.0.1/32"]}}  # fmt: skip
    pusher = Pusher(PusherConfig.model_validate(cfg), relay=relay)  # type: ignore[arg-type]
    states: list[str] = []
    ffmpeg_runs: list[bool] = []
    set_state = pusher._set_state

    def recorded(state: Any) -> None:
        if state != pusher.state:
            states.append(state)
        set_state(state)

    async def push_once(target: Any, add_silence: bool) -> tuple[Outcome, float, str]:
        ffmpeg_runs.append(add_silence)
        return Outcome.SOURCE_ENDED, 0.0, ""

    pusher._set_state = recorded  # type: ignore[method-assign]
    pusher._push_once = push_once  # type: ignore[method-assign]
    return pusher, states, ffmpeg_runs


SOCKET = {"event": "connected", "local": "127.0.0.1:40000", "peer": "127.0.0.1:9", "inode": 77}


def sent(total: int, acked: int, wnd: int = 65536) -> dict[str, Any]:
    return {"event": "sent", "bytes": total, "acked": acked, "notsent": 0, "wnd": wnd}


def test_a_relayed_run_goes_live_by_what_the_target_read_and_ends_with_the_feed(tmp_path: Path) -> None:
    script = [
        SOCKET,
        sent(5_000, 4_000),
        sent(10_000, 9_000),
        {"event": "ended", "reason": "feed-ended", "bytes": 12_000},
    ]
    relay = StandInRelay(script)

    async def scenario() -> None:
        async with Ingest() as ingest:
            ingest.serving = feed((H264, b""), (AAC, b""))
            pusher, states, ffmpeg_runs = pusher_with(relay, ingest.url, "rtmp://127.0.0.1:9/live", tmp_path)
            await pusher._cycle()
            assert ffmpeg_runs == [] and len(relay.opened) == 1
            command = relay.opened[0]
            assert (command.address, command.app, command.stream) == ("127.0.0.1:9", "live", KEY)
            assert states == ["connecting", "live"], "live once the target's kernel read"
            status = pusher.status()
            assert (status.bytes_sent, status.reconnects, status.failures, pusher.target_failures) == (12_000, 0, 0, 0)
            assert relay.closed == [], "a run the relay ended is not closed again"

    asyncio.run(scenario())


async def stopped_at(pusher: Pusher, state: str) -> None:
    """One cycle of the pusher, stopped once it reaches `state`; returns when the cycle has ended."""
    task = asyncio.ensure_future(pusher._cycle())
    while pusher.state != state:
        await asyncio.sleep(0.01)
    pusher.stop()
    await asyncio.wait_for(task, 10)


def test_a_relayed_run_the_target_failed_backs_off_and_its_error_holds_no_key(tmp_path: Path) -> None:
    failed = {"event": "ended", "reason": "target-failed", "error": f"publishing to the target: bad name live/{KEY}"}
    relay = StandInRelay([failed])

    async def scenario() -> None:
        async with Ingest() as ingest:
            ingest.serving = feed((H264, b""), (AAC, b""))
            pusher, _, _ = pusher_with(relay, ingest.url, "rtmps://127.0.0.1:9/live", tmp_path)
            await stopped_at(pusher, "backoff")
            status = pusher.status()
            assert pusher.target_failures == 1 and status.failures == 1 and status.last_error is not None
            assert KEY not in status.last_error and "bad name" in status.last_error

    asyncio.run(scenario())


def test_what_the_relay_does_not_carry_keeps_ffmpeg(tmp_path: Path) -> None:
    relay = StandInRelay([])

    async def scenario() -> list[bool]:
        async with Ingest() as ingest:
            ingest.serving = feed((H264, b""), (AAC, b""))
            pusher, _, ffmpeg_runs = pusher_with(relay, ingest.url, "srt://127.0.0.1:9000", tmp_path)
            await pusher._cycle()
            ingest.serving = feed((H264, b""), (0x03, b""))  # MP3 audio: FFmpeg copies it, the relay would not
            pusher.config = pusher.config.model_copy(update={"uri": "rtmp://127.0.0.1:9/live"})
            await pusher._cycle()
            return ffmpeg_runs

    assert asyncio.run(scenario()) == [False, False] and relay.opened == []


def test_a_stop_ends_a_live_relayed_run_and_closes_it(tmp_path: Path) -> None:
    """The run waits for its next event without a task per event: the stop wakes that wait."""
    relay = StandInRelay([SOCKET, sent(5_000, 4_000)])  # live, then nothing more until closed

    async def scenario() -> None:
        async with Ingest() as ingest:
            ingest.serving = feed((H264, b""), (AAC, b""))
            pusher, states, _ = pusher_with(relay, ingest.url, "rtmp://127.0.0.1:9/live", tmp_path)
            await stopped_at(pusher, "live")
            assert states == ["connecting", "live"] and pusher.target_failures == 0
            assert relay.closed == [relay.opened[0].run_id], "the stopped run is closed in the relay"

    asyncio.run(scenario())
