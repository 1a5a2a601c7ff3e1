"""The handover's two sides (streamops.media.ingest.handover) without media: the files a state lists
(each once, where the successor keeps them), follow's answers (the same predecessor again: a no-op;
another: 409), a release that is idempotent and holds the playlists open, and the internal routes'
refusals; an encrypted stream's keys handed over with the window (a malformed key ring refused whole).
Two real workers handing over: tests/media/test_handover.py."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from streamops.contract.ingest import (
    HANDOVER_FILES_PATH,
    HANDOVER_FOLLOW_PATH,
    HANDOVER_RELEASE_PATH,
    HANDOVER_STATE_PATH,
    HandoverFollow,
    HandoverPlaylist,
    HandoverState,
    IngestConfig,
)
from streamops.media.ingest.continuity import Continuity
from streamops.media.ingest.encryption import KeyRing
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.handover import Handover, add_handover_routes, exported_keys, listed_files
from streamops.media.ingest.served_media import ServedMedia

log = logging.getLogger("test.handover")
CONFIG = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "hls": {"segmentSeconds": 2}})


class Worker:
    """A handover.Releasable that records the release."""

    def __init__(self) -> None:
        self.stopped = 0
        self.live = True
        self.held = False

    async def stop_taking_media(self) -> None:
        self.stopped += 1
        self.live = False

    async def hold_media(self, held: bool) -> None:
        self.held = held


def made(tmp_path: Path, keys: KeyRing | None = None) -> tuple[Handover, Worker]:
    worker = Worker()
    continuity = Continuity(CONFIG, ServedMedia(FeedHub(), FeedHub()), log)
    return Handover(continuity, worker, tmp_path / "mirror", dict, log, keys), worker


def test_every_file_listed_is_mirrored_once_under_its_variant_and_rendition(tmp_path):
    segments = [
        {"number": n, "duration": 2.0, "uri": f"seg-{n}.m4s", "discontinuitySequence": 0, "initUri": "init-0.mp4"}
        for n in (1, 2)
    ]
    playlists = [HandoverPlaylist.model_validate({"variant": "cmaf", "rendition": "720p", "segments": segments})]
    assert [(name, target) for name, target in listed_files(playlists, tmp_path)] == [
        (("cmaf", "720p", "seg-1.m4s"), tmp_path / "cmaf" / "720p" / "seg-1.m4s"),
        (("cmaf", "720p", "init-0.mp4"), tmp_path / "cmaf" / "720p" / "init-0.mp4"),
        (("cmaf", "720p", "seg-2.m4s"), tmp_path / "cmaf" / "720p" / "seg-2.m4s"),
    ]


def test_routes_follow_once_release_once_and_serve_only_listed_files(tmp_path):
    handover, worker = made(tmp_path)
    app = web.Application()
    add_handover_routes(app, handover)

    async def check(client: TestClient[Any, Any]) -> None:
        state = HandoverState.model_validate_json(await (await client.get(HANDOVER_STATE_PATH)).read())
        assert state.release is None and state.live and state.playlists
        follow = HandoverFollow(predecessor_url="http://127.0.0.1:9", predecessor_pod="ingest-0").to_json()
        assert (await client.post(HANDOVER_FOLLOW_PATH, data=follow)).status == 200
        assert (await client.post(HANDOVER_FOLLOW_PATH, data=follow)).status == 200, "the same: a no-op"
        other = HandoverFollow(predecessor_url="http://127.0.0.1:10", predecessor_pod="ingest-1").to_json()
        assert (await client.post(HANDOVER_FOLLOW_PATH, data=other)).status == 409
        assert (await client.post(HANDOVER_FOLLOW_PATH, data=b"{}")).status == 400
        report = handover.report()
        assert report is not None and report.phase == "following" and report.predecessor_pod == "ingest-0"
        for _ in range(2):
            assert (await client.post(HANDOVER_RELEASE_PATH)).status == 202
        for _ in range(100):
            if handover.release == "released":
                break
            await asyncio.sleep(0.01)
        assert handover.release == "released" and worker.stopped == 1 and handover.continuity.hold_end
        for path in ("ts/-/seg-1.ts", "ts/-/.hidden", "dash/-/seg-1.ts", "ts/-/index.m3u8"):
            assert (await client.get(f"{HANDOVER_FILES_PATH}/{path}")).status == 404, path
        await handover.stop()

    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def listed(first: int, last: int, next_number: int) -> HandoverPlaylist:
    segments = [
        {"number": n, "duration": 2.0, "uri": f"seg-{n}.ts", "discontinuitySequence": 0} for n in range(first, last + 1)
    ]
    return HandoverPlaylist.model_validate({"variant": "ts", "segments": segments, "nextNumber": next_number})


def test_the_predecessor_hands_over_the_key_of_every_segment_listed_and_the_successor_takes_them(tmp_path):
    """No viewer asked the predecessor for the newest segments yet: their keys are made for the state,
    so both serve them (and the segment being written) under the same key from the first poll on."""
    before = KeyRing(3, 10, clock=lambda: 2000.0)
    playlists = [listed(1000, 1010, 1011)]
    state = HandoverState.model_validate_json(
        HandoverState(playlists=playlists, keys=exported_keys(before, playlists)).to_json()
    )
    assert state.keys is not None and [k.first_segment for k in state.keys] == [999, 1002, 1005, 1008, 1011]
    after = KeyRing(3, 10, clock=lambda: 2000.0)
    successor, _ = made(tmp_path, after)
    successor._adopt_keys(state)
    for msn in range(1000, 1014):
        assert after.for_segment(msn) == before.for_segment(msn), msn
    assert successor.keys_left_out == 0
    clear, _ = made(tmp_path)
    assert clear.state().keys is None, "a clear stream hands over no keys"


def test_a_successor_refuses_a_malformed_key_ring_whole_and_never_shows_a_key(tmp_path):
    """Fail closed: a state whose keys are not in order is not mirrored at all, and the error in the
    successor's status counts the problems without quoting the state."""
    secret = "5e" * 16
    bad = {"version": 1, "playlists": [], "keys": [
        {"kid": "0a1b2c3d-2", "key": secret, "iv": secret, "firstSegment": 20, "segments": 10},
        {"kid": "0a1b2c3d-1", "key": secret, "iv": secret, "firstSegment": 10, "segments": 10},
    ]}  # fmt: skip
    app = web.Application()

    async def state(_: web.Request) -> web.Response:
        return web.json_response(bad)

    app.router.add_get(HANDOVER_STATE_PATH, state)
    after = KeyRing(10, 10, clock=lambda: 2000.0)
    successor, _ = made(tmp_path, after)

    async def run() -> None:
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            url = str(server.make_url("")).rstrip("/")
            assert successor.follow(HandoverFollow(predecessor_url=url, predecessor_pod="ingest-0")) == 200
            for _ in range(200):
                if successor.error:
                    break
                await asyncio.sleep(0.01)
            await successor.stop()

    asyncio.run(run())
    report = successor.report()
    assert report is not None and report.error is not None and "state refused" in report.error
    assert secret not in report.model_dump_json() and after.spans() == []


def test_only_a_successor_that_caught_up_and_still_follows_is_taking_over(tmp_path):
    async def check() -> None:
        handover, _ = made(tmp_path)
        assert not handover.taking_over(), "not a successor"
        following = asyncio.get_running_loop().create_future()
        handover._task = asyncio.ensure_future(following)
        handover.phase = "following"
        assert not handover.taking_over(), "not caught up: its predecessor is not released before"
        handover.phase = "caught-up"
        assert handover.taking_over()
        following.set_result(None)  # it read `released` (or an own session went on air)
        await handover._task
        assert not handover.taking_over()
        handover.phase = "failed"
        assert not handover.taking_over()

    asyncio.run(check())
