"""The ingest's concurrency caps (streamops.media.ingest.load_caps) without FFmpeg: on the feed
routes alone, a capped count refuses the next reader at once (429 per source, with Retry-After,
counted) and a refused reader frees nothing; on the real worker's two faces, a recorder's feed is
served while the viewers are at their cap (503 in all, 429 per address: the faces have caps of their
own)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from devtools.media.workers import WORKER_AUTH, credential_file
from prometheus_client import CollectorRegistry, generate_latest
from streamops.contract.ingest import FEED_PATH, IngestConfig
from streamops.media.ingest.dash_chunks import may_be_held
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.load_caps import Limits, LoadCaps, Slots
from streamops.media.ingest.routes import add_feed_routes
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.worker import IngestWorker
from streamops.media.mpegts import SYNC, TS_PACKET


def test_slots_refuse_past_the_per_key_and_the_total_cap():
    slots = Slots(per_key=2, total=3)
    assert [slots.take("a"), slots.take("a"), slots.take("a")] == [None, None, "key"]
    assert slots.take("b") is None
    assert slots.take("c") == "total" and slots.held == 3
    slots.give("a")
    assert slots.take("c") is None and slots.of("a") == 1


REGISTRIES: dict[int, CollectorRegistry] = {}


def worker_with(tmp_path: Path, limits: Limits) -> IngestWorker:
    # The test client is the proxy in front of the viewers: their X-Forwarded-For counts.
    config = IngestConfig.model_validate(
        {
            "stream": "cam",
            "source": {"push": {"protocols": ["rtmp"]}},
            "mediaDir": str(tmp_path / "media"),
            "trustedProxies": ["127.0.0.1/32"],
            "credentialFile": credential_file(tmp_path / "secrets"),  # the feeds' readers present it
        }
    )
    worker = IngestWorker(config)
    registry = REGISTRIES[id(worker)] = CollectorRegistry()
    worker.caps = LoadCaps(registry, {"stream": "cam", "role": "primary"}, limits, worker.playback.client)
    worker.feed.start_session()  # on air, media flowing: /feed answers
    worker.feed.publish(bytes([SYNC]) + bytes(TS_PACKET - 1))
    return worker


def test_a_capped_feed_reader_count_refuses_the_next_reader_at_once():
    caps = LoadCaps(CollectorRegistry(), {"stream": "cam", "role": "primary"}, Limits(feed_per_source=2, feed_total=8))
    feed = FeedHub()
    feed.start_session()  # on air, media flowing: /feed answers
    feed.publish(bytes([SYNC]) + bytes(TS_PACKET - 1))
    app = web.Application()
    add_feed_routes(app, ServedMedia(feed, FeedHub()), caps)

    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            readers = [await client.get(FEED_PATH) for _ in range(2)]
            assert [r.status for r in readers] == [200, 200]
            refused = await client.get(FEED_PATH)
            assert refused.status == 429 and refused.headers["Retry-After"] == "1"
            assert caps.refused == {"feed_source_cap": 1}
            assert feed.consumers == 2, "the refused reader never joined"
            readers[0].close()  # a reader leaves: its slot is free again
            await asyncio.sleep(0.1)
            again = await client.get(FEED_PATH)
            assert again.status == 200
            assert caps.feed.held == 2

    asyncio.run(run())


def test_the_recorder_is_served_while_viewers_are_at_their_cap(tmp_path):
    worker = worker_with(tmp_path, Limits(public_total=2, blocking_total=4, blocking_per_client=2))
    public, internal = worker.apps()
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:  # a viewer's request the loop is busy with
        await release.wait()
        return web.Response(text="ok")

    public.router.add_get("/slow", slow)

    async def run() -> None:
        async with (
            TestClient(TestServer(public, host="127.0.0.1", port=0)) as viewers,
            TestClient(TestServer(internal, host="127.0.0.1", port=0)) as recorders,
        ):
            held = [asyncio.create_task(viewers.get("/slow")) for _ in range(2)]
            blocking = [
                asyncio.create_task(viewers.get("/slow?_HLS_msn=9", headers={"X-Forwarded-For": f"10.0.0.{n}"}))
                for n in (1, 1, 2)
            ]
            await asyncio.sleep(0.2)  # all six are in their handlers now
            full = await viewers.get("/slow")
            assert full.status == 503 and full.headers["Retry-After"] == "1"
            assert full.headers["Access-Control-Allow-Origin"] == "*", "a player reads the refusal"
            same_client = await viewers.get("/slow?_HLS_msn=9", headers={"X-Forwarded-For": "10.0.0.1"})
            assert same_client.status == 429
            blocking.append(
                asyncio.create_task(viewers.get("/slow?_HLS_msn=9", headers={"X-Forwarded-For": "10.0.0.3"}))
            )
            await asyncio.sleep(0.2)
            blocking_full = await viewers.get("/slow?_HLS_msn=9", headers={"X-Forwarded-For": "10.0.0.4"})
            assert blocking_full.status == 503
            assert (await viewers.get("/healthz")).status == 200, "probes are never capped"
            feed = await recorders.get(FEED_PATH, headers=WORKER_AUTH)
            assert feed.status == 200
            while worker.feed.consumers < 1:  # attached once its headers went out
                await asyncio.sleep(0.01)
            worker.feed.publish(bytes([SYNC]) + bytes(TS_PACKET - 1))
            chunk = await asyncio.wait_for(feed.content.read(1 << 16), 10)  # the feed flows to it
            assert SYNC in chunk
            feed.close()
            release.set()
            assert [(await t).status for t in [*held, *blocking]] == [200] * 6
            assert (worker.caps.public.held, worker.caps.blocking.held) == (0, 0)
            assert worker.caps.refused == {"public_total_cap": 1, "blocking_client_cap": 1, "blocking_total_cap": 1}

    asyncio.run(run())
    exported = generate_latest(REGISTRIES[id(worker)]).decode()
    assert (
        'streamops_ingest_overload_refusals_total{reason="public_total_cap",role="primary",stream="cam"} 1.0'
        in exported
    )


def test_fifty_restreams_and_the_streams_own_readers_fit_the_default_feed_caps_from_one_address(tmp_path):
    """The hosted platform takes 50 Restreams per stream; with a recorder, a standby, a clip, a
    backup's uplink, the screenshot and the WHEP feeder that is 56 feed readers, all from the node's
    address under host networking. Issue 37's first caps (8 per address, 32 in all) refused the 9th."""
    worker = worker_with(tmp_path, Limits())
    _, internal = worker.apps()

    async def run() -> None:
        async with TestClient(TestServer(internal, host="127.0.0.1", port=0)) as node:
            readers = [await node.get(FEED_PATH, headers=WORKER_AUTH) for _ in range(56)]
            assert [r.status for r in readers].count(200) == 56, [r.status for r in readers]
            assert worker.caps.refused == {}
            for r in readers:
                r.close()

    asyncio.run(run())


def test_low_latency_dash_segments_hold_a_blocking_slot_per_client():
    """A segment sent while FFmpeg writes it lasts up to a segment: per client like an LL-HLS
    blocking reload (dash_chunks.may_be_held); the manifest and init segments are quick requests."""
    caps = LoadCaps(
        CollectorRegistry(),
        {"stream": "cam", "role": "primary"},
        Limits(blocking_per_client=1, public_total=8),
        held=may_be_held,
    )
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="ok")

    app = web.Application(middlewares=[caps.public_middleware])
    app.router.add_get("/streams/ns/cam/dash/{name}", slow)

    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            segment = asyncio.create_task(client.get("/streams/ns/cam/dash/chunk-0-000001.m4s"))
            await asyncio.sleep(0.2)
            assert caps.blocking.held == 1
            again = await client.get("/streams/ns/cam/dash/chunk-1-000001.m4s")
            assert again.status == 429, "one client's second held segment"
            others = [
                asyncio.create_task(client.get(f"/streams/ns/cam/dash/{name}"))
                for name in ("manifest.mpd", "init-0.m4s")
            ]
            await asyncio.sleep(0.2)
            assert caps.public.held == 2
            release.set()
            assert [(await t).status for t in [segment, *others]] == [200] * 3

    asyncio.run(run())
