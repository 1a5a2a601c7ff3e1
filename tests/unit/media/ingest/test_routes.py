"""The ingest's media route groups (streamops.media.ingest.routes) each on its own, built from the
parts it is given, without a worker or FFmpeg: what is served follows ServedMedia per request (a
switch of the session on air), and the relay feed answers its loopback reader only. The routes on
the worker's faces: test_worker.py, test_playback_access.py; with media: tests/media/."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.playback_access import PlaybackGate
from streamops.media.ingest.routes import add_playback_routes, add_relay_routes
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.webrtc.ice_servers import IceServersFile
from streamops.media.mpegts import SYNC, TS_PACKET

log = logging.getLogger("test.routes")
PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:40\n#EXTINF:2.000000,\nseg-000040.m4s\n"
SERVED = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:40\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    "#EXTINF:2.000000,\nseg-40.m4s\n"
)


def serve(app: web.Application, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def session_dir(root: Path, playlist: str) -> Path:
    (root / "cmaf").mkdir(parents=True)
    (root / "cmaf" / "index.m3u8").write_text(playlist)
    return root


def test_playback_routes_serve_the_session_on_air_at_each_request(tmp_path):
    config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "pathPrefix": "/live/cam"})
    served = ServedMedia(FeedHub(), FeedHub())
    screenshot = tmp_path / "screenshot.jpg"
    app = web.Application()
    gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
    add_playback_routes(app, config, gate, served, screenshot, IceServersFile(None, log))

    async def check(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/hls/cmaf/index.m3u8")).status == 404, "nothing on air yet"
        assert (await client.get("/screenshot.jpg")).status == 404
        served.dir = session_dir(tmp_path / "own", PLAYLIST)
        for path in ("/hls/cmaf/index.m3u8", "/live/cam/hls/cmaf/index.m3u8", "/t/any/hls/cmaf/index.m3u8"):
            response = await client.get(path)
            assert response.status == 200, path
            assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            # A live playlist: half a target duration in any cache (contract/cache_policy.py).
            assert response.headers["Cache-Control"] == "public, max-age=1" and await response.text() == SERVED
        (served.dir / "cmaf" / "seg-000040.m4s").write_bytes(b"media")
        assert await (await client.get("/hls/cmaf/seg-40.m4s")).read() == b"media", "served by its served name"
        served.dir = session_dir(tmp_path / "relay", PLAYLIST.replace(":40", ":7").replace("040", "007"))
        text = await (await client.get("/hls/cmaf/index.m3u8")).text()
        assert text.endswith("seg-40.m4s\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000000,\nseg-41.m4s\n"), "the switch goes on"
        assert (await client.get("/hls/cmaf/720p/index.m3u8")).status == 404, "no such rendition"
        assert (await client.get("/dash/manifest.mpd")).status == 404, "no DASH configured"
        screenshot.write_bytes(b"\xff\xd8jpeg")
        shot = await client.get("/live/cam/screenshot.jpg")
        assert shot.status == 200 and shot.headers["Content-Type"] == "image/jpeg"
        assert (await client.get("/live/cam/player")).status == 200

    serve(app, check)


class Uplink:
    """A routes.BackupUplink standing in for OnAir: takes every uplink."""

    def __init__(self) -> None:
        self.uplink = FeedHub()

    async def receive_uplink(self, _: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def yield_air(self, _: web.Request) -> web.Response:
        return web.Response(status=202)


def test_the_relay_feed_is_there_for_the_loopback_reader_while_the_uplink_is_live():
    app = web.Application()
    uplink = Uplink()
    add_relay_routes(app, uplink, "10.0.0.9")  # the test client comes from 127.0.0.1: loopback too

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/backup/feed")
        assert (response.status, await response.text()) == (503, "no backup feed")
        assert (await client.post("/backup/uplink")).status == 204, "OnAir's receiver answers the uplink"
        uplink.uplink.start_session()
        feed = await client.get("/backup/feed")
        assert feed.status == 200 and feed.headers["Content-Type"] == "video/mp2t"
        while uplink.uplink.consumers < 1:  # attached once its headers went out
            await asyncio.sleep(0.01)
        uplink.uplink.publish(bytes([SYNC]) + bytes(TS_PACKET - 1))
        assert SYNC in await asyncio.wait_for(feed.content.read(1 << 16), 10)
        feed.close()

    serve(app, check)


def test_a_dash_stream_serves_its_clock_beside_the_mpd_too(tmp_path):
    """A low-latency MPD's UTCTiming says `time`: dash.js may resolve it against the MPD
    (<prefix>/dash/time) or the page (<prefix>/time); both are the ingest's clock, inside a token."""
    config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "dash": True, "pathPrefix": "/s/c"})
    app = web.Application()
    gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
    add_playback_routes(
        app, config, gate, ServedMedia(FeedHub(), FeedHub()), tmp_path / "x.jpg", IceServersFile(None, log)
    )

    async def check(client: TestClient[Any, Any]) -> None:
        for path in ("/dash/time", "/s/c/dash/time", "/s/c/t/any/dash/time", "/time"):
            response = await client.get(path)
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store", path
            assert (await response.text()).endswith("Z")
        assert (await client.get("/dash/manifest.mpd")).status == 404, "nothing on air yet"

    serve(app, check)


def test_a_blocking_reload_waits_across_a_session_switch_for_the_next_number(tmp_path):
    """LL-HLS across a publisher's reconnect (continuity.py): a player blocking for the segment
    after the first session's last is answered by the next session's packager, which goes on with
    that number, after a discontinuity; the first session's segments stay listed and served."""
    from devtools.media.fmp4_boxes import VIDEO_TIMESCALE, fragment, init_segment, video_seconds
    from streamops.media.ingest.commands import packager_settings
    from streamops.media.ingest.continuity import Continuity
    from streamops.media.ingest.llhls.packager import LlHlsPackager

    config = IngestConfig.model_validate(
        {"stream": "cam", "source": {"push": {}}, "hls": {"latencyMode": "low", "segmentSeconds": 1}}
    )
    served = ServedMedia(FeedHub(), FeedHub())
    continuity = Continuity(config, served, log)
    app = web.Application()
    gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
    add_playback_routes(app, config, gate, served, tmp_path / "x.jpg", IceServersFile(None, log), None, continuity)
    part = int(0.2 * VIDEO_TIMESCALE)

    def packager(name: str) -> LlHlsPackager:
        (tmp_path / name / "cmaf").mkdir(parents=True)
        return LlHlsPackager(tmp_path / name / "cmaf", packager_settings(config))

    def feed(p: LlHlsPackager, count: int) -> None:
        p.feed(init_segment())
        for n in range(count):  # 0.2 s parts, a keyframe every 1 s
            p.feed(fragment(n * part, video_seconds(0.2), keyframe=n % 5 == 0))

    async def check(client: TestClient[Any, Any]) -> None:
        first = packager("a")
        continuity.go_on_air(tmp_path / "a", {"": first})
        feed(first, 11)  # two complete segments, a third begun
        first.finish()
        last = first.segments[-1].msn
        waiting = asyncio.ensure_future(client.get(f"/hls/cmaf/index.m3u8?_HLS_msn={last + 1}"))
        await asyncio.sleep(0.1)
        assert not waiting.done(), "between sessions: it waits"
        second = packager("b")
        continuity.go_on_air(tmp_path / "b", {"": second})
        feed(second, 6)
        response = await asyncio.wait_for(waiting, 10)
        text = await response.text()
        assert response.status == 200 and f"seg-{last + 1}.m4s" in text, text
        assert text.count("#EXT-X-DISCONTINUITY\n") == 1 and f"seg-{last}.m4s\n#EXT-X-DISCONTINUITY" in text
        assert (await client.get(f"/hls/cmaf/seg-{last}.m4s")).status == 200, "the first session's, still served"
        assert (await client.get(f"/hls/cmaf/init-{last + 1}.mp4")).status == 200, "the second's init segment"

    serve(app, check)


def _low_latency_app(tmp_path):
    """An LL-HLS ingest's public routes over a Continuity, and a packager maker and feeder."""
    from devtools.media.fmp4_boxes import VIDEO_TIMESCALE, fragment, init_segment, video_seconds
    from streamops.media.ingest.commands import packager_settings
    from streamops.media.ingest.continuity import Continuity
    from streamops.media.ingest.llhls.packager import LlHlsPackager

    config = IngestConfig.model_validate(
        {"stream": "cam", "source": {"push": {}}, "hls": {"latencyMode": "low", "segmentSeconds": 1}}
    )
    served = ServedMedia(FeedHub(), FeedHub())
    continuity = Continuity(config, served, log)
    app = web.Application()
    gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
    add_playback_routes(app, config, gate, served, tmp_path / "x.jpg", IceServersFile(None, log), None, continuity)
    part = int(0.2 * VIDEO_TIMESCALE)

    def packager(name: str) -> LlHlsPackager:
        (tmp_path / name / "cmaf").mkdir(parents=True)
        return LlHlsPackager(tmp_path / name / "cmaf", packager_settings(config))

    def feed(p: LlHlsPackager, count: int) -> None:
        p.feed(init_segment())
        for n in range(count):  # 0.2 s parts, a keyframe every 1 s
            p.feed(fragment(n * part, video_seconds(0.2), keyframe=n % 5 == 0))

    return app, continuity, packager, feed


def test_a_released_predecessor_sends_waiting_players_on_to_its_successor(tmp_path):
    """A handover's predecessor, released (continuity.moved), never writes the next segment or the
    hinted part: a blocking reload or hinted part waiting there (a player's kept-alive connection,
    which the Service's move does not move) is answered at once with the same URL again (307) and
    the connection closed, so that it reaches the successor; not a 503 after the blocking timeout
    (3 target durations: a 6 s stall with 2 s segments) nor a 404."""
    app, continuity, packager, feed = _low_latency_app(tmp_path)

    async def check(client: TestClient[Any, Any]) -> None:
        first = packager("a")
        continuity.go_on_air(tmp_path / "a", {"": first})
        feed(first, 8)
        last, hinted = first.segments[-1].msn, first.next_part
        url = f"/hls/cmaf/index.m3u8?_HLS_msn={last + 1}&_HLS_part=0"
        waiting = asyncio.ensure_future(client.get(url, allow_redirects=False))
        part = asyncio.ensure_future(client.get(f"/hls/cmaf/part-{hinted}.m4s", allow_redirects=False))
        await asyncio.sleep(0.1)
        continuity.hold()  # the release: FFmpeg writes its last segment, then `released`
        first.finish()
        await asyncio.sleep(0.1)
        assert not waiting.done() and not part.done(), "released only once the sessions ended"
        continuity.moved.set()
        for response, path in ((await asyncio.wait_for(waiting, 1), url), (await asyncio.wait_for(part, 1), None)):
            assert response.status == 307, await response.text()
            assert response.headers["Location"] == (path or f"/hls/cmaf/part-{hinted}.m4s")
            assert response.headers.get("Connection", "").lower() == "close"
        done = await client.get("/hls/cmaf/index.m3u8")
        assert done.status == 200 and "#EXT-X-ENDLIST" not in await done.text()
        assert done.headers.get("Connection", "").lower() == "close", "every answer sends the player on"

    serve(app, check)


def test_a_hinted_part_waits_across_a_session_switch(tmp_path):
    """The preload-hinted part asked of a packager that ends (a handover successor's idle packager,
    replaced at each poll; a publisher's reconnect) is answered by the packager that goes on air and
    numbers its first part so: not a 404 at once, nor after the timeout of a packager no longer on air."""
    app, continuity, packager, feed = _low_latency_app(tmp_path)

    async def check(client: TestClient[Any, Any]) -> None:
        first = packager("a")
        continuity.go_on_air(tmp_path / "a", {"": first})
        feed(first, 8)
        hinted = first.next_part
        part = asyncio.ensure_future(client.get(f"/hls/cmaf/part-{hinted}.m4s"))
        await asyncio.sleep(0.1)
        first.finish()
        await asyncio.sleep(0.1)
        assert not part.done(), "between sessions: it waits"
        second = packager("b")
        continuity.go_on_air(tmp_path / "b", {"": second})
        feed(second, 3)
        response = await asyncio.wait_for(part, 5)
        assert response.status == 200 and await response.read() == second.parts[hinted]

    serve(app, check)


def test_a_standard_hls_successor_holds_the_segment_and_init_segment_its_predecessor_put_on_air(tmp_path):
    """A planned switchover (issue 56) of a stream with standard HLS only: the predecessor yields to
    its backup while its successor already serves the mirrored window, so the predecessor's
    playlist gains the relay session's first segment after a discontinuity, with an init segment of
    its own (init-<n>.mp4). A player that read it there may ask the successor (another connection
    through the Service) for both before the successor's next poll mirrored them: both are held
    until then. Before, both were a 404 at once (the multinode switchover's 404): a successor
    counted as mirroring only by its LL-HLS timelines, and an init segment was never held. Far
    ahead: 404 at once, as the predecessor answers."""
    import shutil

    from streamops.contract.ingest import HandoverState
    from streamops.media.ingest.continuity import Continuity
    from streamops.media.ingest.handover import listed_files

    config = IngestConfig.model_validate(
        {"stream": "cam", "source": {"push": {}}, "hls": {"cmaf": True, "mpegts": False, "segmentSeconds": 2}}
    )
    key = ("cmaf", "")

    def session(name: str, first: int, count: int) -> Path:
        directory = tmp_path / "p" / name / "cmaf"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "init.mp4").write_bytes(f"init of {name}".encode())
        lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}", '#EXT-X-MAP:URI="init.mp4"']
        for n in range(first, first + count):
            (directory / f"seg-{n}.m4s").write_bytes(f"{name}-{n}".encode())
            lines += ["#EXTINF:2.000000,", f"seg-{n}.m4s"]
        (directory / "index.m3u8").write_text("\n".join(lines) + "\n")
        return directory.parent

    def mirror(predecessor: Continuity, into: Path) -> list[Any]:
        state = HandoverState.model_validate_json(HandoverState(playlists=predecessor.exported()).to_json())
        for (variant, rendition, name), target in listed_files(state.playlists, into):
            source = predecessor.file((variant, rendition), name)
            assert source is not None, name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
        return list(state.playlists)

    async def scenario() -> None:
        predecessor = Continuity(config, ServedMedia(FeedHub(), FeedHub()), log)
        predecessor.go_on_air(session("own", 500, 0), {})
        session("own", 500, 3)
        predecessor.refresh_all()
        served = ServedMedia(FeedHub(), FeedHub())
        successor = Continuity(config, served, log)
        successor.adopt(mirror(predecessor, tmp_path / "mirror"), tmp_path / "mirror")
        app = web.Application()
        gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
        add_playback_routes(app, config, gate, served, tmp_path / "x.jpg", IceServersFile(None, log), None, successor)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            predecessor.go_on_air(session("backup", 9000, 0), {})  # the yield: the relay goes on air
            session("backup", 9000, 1)
            text = (predecessor.playlist(key) or ("", 0.0))[0]
            assert text.endswith(
                '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-503.mp4"\n#EXTINF:2.000000,\nseg-503.m4s\n'
            )
            asked = [asyncio.ensure_future(client.get(f"/hls/cmaf/{n}")) for n in ("init-503.mp4", "seg-503.m4s")]
            far = await client.get("/hls/cmaf/init-510.mp4")
            assert far.status == 404, "a number the predecessor is not near: at once, as it answers"
            await asyncio.sleep(0.2)
            assert not any(a.done() for a in asked), [(a.result().status, a.result().url) for a in asked if a.done()]
            successor.adopt(mirror(predecessor, tmp_path / "mirror"), tmp_path / "mirror")  # the next poll
            init, segment = [await asyncio.wait_for(a, 5) for a in asked]
            assert (init.status, await init.read()) == (200, b"init of backup")
            assert (segment.status, await segment.read()) == (200, b"backup-9000")

    asyncio.run(scenario())


def test_a_released_standard_hls_predecessor_sends_players_on_for_its_playlist_and_what_it_lacks(tmp_path):
    """A released predecessor's playlist stands still while its successor's goes on: asked on a
    connection kept alive from before (a Service's move does not move it), it answers 307 to the
    same URL (a new connection reaches the successor), not its old playlist (the numbers would go
    back) nor a 404 for a segment or init segment the successor listed. What it has it still
    serves; every answer closes the connection."""
    from streamops.media.ingest.continuity import Continuity

    config = IngestConfig.model_validate(
        {"stream": "cam", "source": {"push": {}}, "hls": {"cmaf": True, "mpegts": False, "segmentSeconds": 2}}
    )
    served = ServedMedia(FeedHub(), FeedHub())
    continuity = Continuity(config, served, log)
    app = web.Application()
    gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
    add_playback_routes(app, config, gate, served, tmp_path / "x.jpg", IceServersFile(None, log), None, continuity)

    async def check(client: TestClient[Any, Any]) -> None:
        served.dir = session_dir(tmp_path / "own", PLAYLIST)
        (served.dir / "cmaf" / "seg-000040.m4s").write_bytes(b"media")
        continuity.go_on_air(served.dir, {})
        assert (await client.get("/hls/cmaf/index.m3u8")).status == 200
        continuity.hold()
        continuity.moved.set()  # released
        for path in ("/hls/cmaf/index.m3u8", "/hls/cmaf/seg-41.m4s", "/hls/cmaf/init-41.mp4"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 307 and response.headers["Location"] == path, path
            assert response.headers.get("Connection", "").lower() == "close", path
        kept = await client.get("/hls/cmaf/seg-40.m4s")
        assert kept.status == 200 and await kept.read() == b"media"
        assert kept.headers.get("Connection", "").lower() == "close"

    serve(app, check)
