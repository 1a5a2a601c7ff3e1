"""The ingest's concurrency caps (streamops.media.ingest.load_caps) without FFmpeg: on the feed
routes alone, a capped count refuses the next reader at once (429 per source, with Retry-After,
counted) and a refused reader frees nothing; on the real worker's two faces, a recorder's feed is
served while the viewers are at their cap (503 in all, 429 per address: the faces have caps of their
own)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from devtools.media.workers import WORKER_AUTH, credential_file
from devtools.waits import eventually_async
from prometheus_client import CollectorRegistry, generate_latest
from streamops.contract.ingest import FEED_PATH, IngestConfig
from streamops.media.ingest.dash_chunks import may_be_held
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.load_caps import (
    RATE_PER_CLIENT,
    RATE_TOTAL,
    Limits,
    LoadCaps,
    RateBudget,
    Slots,
    TokenBucket,
)
from streamops.media.ingest.public_thread import LoopThread
from streamops.media.ingest.routes import add_feed_routes
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.worker import IngestWorker
from streamops.media.ingest.worker_http import serve
from streamops.media.mpegts import SYNC, TS_PACKET


def test_slots_refuse_past_the_per_key_and_the_total_cap():
    slots = Slots(per_key=2, total=3)
    assert [slots.take("a"), slots.take("a"), slots.take("a")] == [None, None, "key"]
    assert slots.take("b") is None
    assert slots.take("c") == "total" and slots.held == 3
    slots.give("a")
    assert slots.take("c") is None and slots.of("a") == 1


REGISTRIES: dict[int, CollectorRegistry] = {}


def worker_with(tmp_path: Path, limits: Limits, clock: Callable[[], float] = time.monotonic) -> IngestWorker:
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
    worker.caps = LoadCaps(registry, {"stream": "cam", "role": "primary"}, limits, worker.playback.client, clock=clock)
    # On air, media flowing: /feed answers, for as long as the test lasts (its clock stands still: a
    # loaded machine's requests could outlast the silence rule's 2 s after this one chunk).
    worker.feed.clock = lambda: 0.0
    worker.feed.start_session()
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
            await eventually_async(lambda: caps.feed.held == 1, timeout=10, what="the closed reader's slot freed")
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
            caps = worker.caps
            await eventually_async(
                lambda: caps.public.held == 2 and caps.blocking.held == 3, timeout=10, what="all in their handlers"
            )
            full = await viewers.get("/slow")
            assert full.status == 503 and full.headers["Retry-After"] == "1"
            assert full.headers["Access-Control-Allow-Origin"] == "*", "a player reads the refusal"
            same_client = await viewers.get("/slow?_HLS_msn=9", headers={"X-Forwarded-For": "10.0.0.1"})
            assert same_client.status == 429
            blocking.append(
                asyncio.create_task(viewers.get("/slow?_HLS_msn=9", headers={"X-Forwarded-For": "10.0.0.3"}))
            )
            await eventually_async(lambda: caps.blocking.held == 4, timeout=10, what="the fourth blocking request held")
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


def answering_once(release: asyncio.Event, caps: LoadCaps, *paths: str) -> web.Application:
    """An app behind `caps`' public middleware whose routes at `paths` answer 200 once `release` is
    set: each request holds its slot until then."""

    async def waiting(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="ok")

    app = web.Application(middlewares=[caps.public_middleware])
    for path in paths:
        app.router.add_get(path, waiting)
    return app


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
    app = answering_once(release, caps, "/streams/ns/cam/dash/{name}")

    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            segment = asyncio.create_task(client.get("/streams/ns/cam/dash/chunk-0-000001.m4s"))
            await eventually_async(lambda: caps.blocking.held == 1, timeout=10, what="the segment held")
            again = await client.get("/streams/ns/cam/dash/chunk-1-000001.m4s")
            assert again.status == 429, "one client's second held segment"
            others = [
                asyncio.create_task(client.get(f"/streams/ns/cam/dash/{name}"))
                for name in ("manifest.mpd", "init-0.m4s")
            ]
            await eventually_async(
                lambda: caps.public.held == 2, timeout=10, what="the quick requests in their handlers"
            )
            release.set()
            assert [(await t).status for t in [segment, *others]] == [200] * 3

    asyncio.run(run())


def test_llhls_parts_waiting_to_be_written_hold_blocking_slots_not_the_public_total(tmp_path):
    """Every LL-HLS player holds the preload-hinted part beside its blocking reload, waiting until
    it is written: in the public total (requests being worked on) 100 players behind one address
    held 100 of its 256 slots while idle, and a CPU-starved ingest answered 503 to 3,008 parts
    (ci61). The real worker's predicate: parts take blocking slots, other files the public ones."""
    worker = IngestWorker(
        IngestConfig.model_validate(
            {"stream": "cam", "source": {"push": {"protocols": ["rtmp"]}}, "mediaDir": str(tmp_path / "media")}
        )
    )
    caps = LoadCaps(
        CollectorRegistry(), {"stream": "cam", "role": "primary"}, Limits(public_total=1), held=worker.caps.held
    )
    release = asyncio.Event()
    app = answering_once(
        release, caps, "/streams/ns/cam/hls/{variant}/{name}", "/streams/ns/cam/hls/{variant}/{rendition}/{name}"
    )

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0), connector=connector) as client:
            hls = "/streams/ns/cam/hls/cmaf"
            parts = [asyncio.create_task(client.get(f"{hls}/{path}")) for path in ("part-7.m4s", "720p/part-7.m4s")]
            parts += [
                asyncio.create_task(client.get(f"{hls}/part-{n}.m4s", params={"_sid": str(n)})) for n in range(8, 108)
            ]
            await eventually_async(lambda: caps.blocking.held == 102, timeout=10, what="every part held")
            segment = asyncio.create_task(client.get(f"{hls}/seg-3.m4s"))
            await eventually_async(lambda: caps.public.held == 1, timeout=10, what="the segment in its handler")
            assert (await client.get(f"{hls}/seg-4.m4s")).status == 503, "a second segment: the public total is 1"
            release.set()
            assert [(await t).status for t in [*parts, segment]] == [200] * 103
            assert caps.refused == {"public_total_cap": 1}

    asyncio.run(run())


# --- rates (issue 52) ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_holds_one_burst_and_refills_at_its_rate():
    bucket = TokenBucket(rate=10, burst=10, now=0.0)
    assert [bucket.take(0.0) for _ in range(11)] == [True] * 10 + [False]
    assert bucket.take(0.05) is False, "half a token"
    assert bucket.take(0.1) is True and bucket.take(0.1) is False
    assert bucket.full(5.0) and bucket.tokens == 10, "never more than a burst, however long it waited"
    assert bucket.take(4.0) is True, "a clock that steps back refills nothing and breaks nothing"


def test_one_address_past_its_rate_is_refused_and_takes_nothing_from_the_others():
    clock = Clock()
    budget = RateBudget(per_key=100, total=250, clock=clock)
    flood = [budget.take("10.0.0.1") for _ in range(1000)]
    assert flood.count(None) == 100 and set(flood[100:]) == {"key"}
    assert [budget.take("10.0.0.2") for _ in range(100)] == [None] * 100, "the total was not spent by refusals"
    assert [budget.take(f"10.0.1.{n}") for n in range(60)].count("total") == 10
    clock.now += 0.5  # half a second: half of each bucket back
    assert [budget.take("10.0.0.1") for _ in range(51)] == [None] * 50 + ["key"]


def test_a_nat_of_two_hundred_llhls_players_fits_one_addresss_default_rate():
    """200 players behind one address, 200 ms parts: ≈ 2 requests per part each (a blocking
    reload, the part), 2,000 a second, steadily over 10 s. 2,500 a second for 10 s is refused at
    least its excess past one burst: 5,000 - 2,000."""
    clock = Clock()
    budget = RateBudget(per_key=RATE_PER_CLIENT, total=RATE_TOTAL, clock=clock)

    def refused(requests_per_part: int) -> int:
        count = 0
        for _ in range(50):  # 10 s in steps of one part (0.2 s)
            clock.now += 0.2
            count += [budget.take("192.0.2.1") for _ in range(requests_per_part)].count("key")
        return count

    assert refused(200 * 2) == 0
    assert 3000 <= refused(500) <= 3500


def test_the_rate_budget_keeps_a_bounded_number_of_addresses():
    clock = Clock()
    budget = RateBudget(per_key=10, total=1e9, clock=clock, keys=100)
    for n in range(1000):
        budget.take(f"10.{n // 250}.{n % 250}.1")
    assert len(budget) == 100
    clock.now += 2  # every bucket full again, as a new one: forgotten one per request
    for _ in range(50):
        budget.take("192.0.2.1")
    assert len(budget) == 50


def test_a_flood_from_one_address_gets_429_with_retry_after_and_a_closed_connection(tmp_path):
    clock = Clock()
    worker = worker_with(tmp_path, Limits(rate_per_client=20, rate_total=1000))
    worker.caps.rate = RateBudget(20, 1000, clock)
    public, _ = worker.apps()

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    public.router.add_get("/ok", ok)

    async def run() -> None:
        async with TestClient(TestServer(public, host="127.0.0.1", port=0)) as client:
            flood = {"X-Forwarded-For": "198.51.100.7"}
            statuses = [(await client.get("/ok", headers=flood)).status for _ in range(20)]
            assert statuses == [200] * 20
            refused = await client.get("/ok", headers=flood)
            assert refused.status == 429 and refused.headers["Retry-After"] == "1"
            assert refused.headers["Connection"] == "close" and refused.headers["Cache-Control"] == "no-store"
            assert (await client.get("/ok", headers={"X-Forwarded-For": "198.51.100.8"})).status == 200
            assert (await client.get("/healthz", headers=flood)).status == 200, "probes are never capped"
            clock.now += 0.125  # two and a half requests' worth back
            assert [(await client.get("/ok", headers=flood)).status for _ in range(3)] == [200, 200, 429]
            assert worker.caps.refused == {"rate_client_cap": 2}

    asyncio.run(run())


def test_a_hundred_blocking_reloads_from_one_address_are_all_held():
    """Issue 52, finding 3: 100 LL-HLS players behind one address (a NodePort's SNAT, a venue's NAT)
    each hold a blocking reload; issue 37's cap (8 per address) answered 92 of them 429."""
    caps = LoadCaps(CollectorRegistry(), {"stream": "cam", "role": "primary"})
    release = asyncio.Event()

    async def reload(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="#EXTM3U\n")

    app = web.Application(middlewares=[caps.public_middleware])
    app.router.add_get("/hls/cmaf/index.m3u8", reload)

    async def run() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0), connector=connector) as client:
            players = [
                asyncio.create_task(client.get("/hls/cmaf/index.m3u8", params={"_HLS_msn": "7", "_sid": str(n)}))
                for n in range(100)
            ]
            while caps.blocking.held < 100 and not any(p.done() for p in players):
                await asyncio.sleep(0.01)
            assert caps.blocking.of("127.0.0.1") == 100, caps.refused
            release.set()
            assert [(await p).status for p in players] == [200] * 100

    asyncio.run(run())


def test_the_public_face_on_its_own_loop_refuses_while_the_workers_loop_is_stuck(tmp_path):
    """public_thread.py: a request is read, refused and answered on the face's loop; an accepted one's
    handler runs on the worker's. While the worker's loop is stuck, a flood's refusals still come
    back, and a request accepted meanwhile is answered once the loop is free. The budgets' clock
    stands still: a token refilled during the flood (at load, 40 requests outlast 0.2 s) would be a
    request accepted, whose handler waits for the stuck loop."""
    worker = worker_with(tmp_path, Limits(rate_per_client=5, rate_total=1000), clock=lambda: 0.0)
    handled_on: list[threading.Thread] = []

    async def ok(_: web.Request) -> web.Response:
        handled_on.append(threading.current_thread())
        return web.Response(text="ok")

    def get(port: int, address: str = "198.51.100.7") -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/ok", headers={"X-Forwarded-For": address})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as e:
            return e.code

    async def run() -> None:
        face = LoopThread("public-test")
        public, _ = worker.apps(asyncio.get_running_loop())
        public.router.add_get("/ok", ok)
        runner = await face.run(serve(public, "127.0.0.1", 0))
        port = runner.addresses[0][1]
        try:
            first = await asyncio.to_thread(lambda: [get(port) for _ in range(5)])
            assert first == [200] * 5 and set(handled_on) == {threading.current_thread()}
            pool = concurrent.futures.ThreadPoolExecutor(2)
            accepted = pool.submit(get, port, "198.51.100.8")
            refused = pool.submit(lambda: [get(port) for _ in range(40)])
            # This loop is stuck (a blocking wait) until the flood's answers came back.
            assert refused.result(timeout=60) == [429] * 40, "refusals waited for the worker's loop"
            assert not accepted.done(), "its handler waits for this loop"
            assert await asyncio.wrap_future(accepted) == 200
            pool.shutdown()
        finally:
            await face.run(runner.cleanup())
            face.stop()

    asyncio.run(run())
