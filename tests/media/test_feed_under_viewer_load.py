"""Viewers cannot take the feed from the recorders and pushers (issue 37 finding 7): a real ingest
whose public face is saturated with blocking LL-HLS reloads (more than its cap, from many viewer
addresses behind a proxy) refuses the excess at once with Retry-After, while its internal /feed
goes on delivering media at the rate it did without them. Nor can one client flooding the public
port with requests as fast as it can (issue 52, finding 2): past its address's rate budget it is
answered 429 on the public face's own loop, and the feed keeps its rate. Why:
docs/design/playback.md ("Viewer load and the recorder")."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections import Counter

import aiohttp
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.media.workers import WORKER_AUTH
from devtools.waits import wait_for
from streamops.media.ingest.load_caps import BLOCKING_TOTAL
from streamops.media.mpegts import PTS_CLOCK, SYNC, TS_PACKET, packet_pid, pes_pts

# The test's client is the proxy in front of the viewers (their X-Forwarded-For): trusted.
LOW = {"hls": {"latencyMode": "low"}, "trustedProxies": ["127.0.0.1/32"]}
VIEWERS = BLOCKING_TOTAL + 60  # past the total: some must be refused
SECONDS = 6.0


def media_seconds(data: bytes) -> float:
    """The PTS span of the busiest elementary stream in `data` (an MPEG-TS byte stream)."""
    start = data.find(bytes([SYNC]))
    pts: dict[int, list[int]] = {}
    for offset in range(start, len(data) - TS_PACKET + 1, TS_PACKET):
        packet = data[offset : offset + TS_PACKET]
        if packet[0] == SYNC and packet[1] & 0x40 and (value := pes_pts(packet)) is not None:
            pts.setdefault(packet_pid(packet), []).append(value)
    values = max(pts.values(), key=len, default=[])
    return (max(values) - min(values)) / PTS_CLOCK if values else 0.0


async def read_feed(url: str, seconds: float) -> float:
    """Media seconds per wall second a feed reader gets over `seconds` (its joining head left out)."""
    async with aiohttp.ClientSession() as session, session.get(url, headers=WORKER_AUTH) as response:
        assert response.status == 200
        await response.content.readexactly(TS_PACKET * 2000)  # the head: PAT, PMT, the cached GOP
        got, started = bytearray(), time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            got += await response.content.read(1 << 16)
        return media_seconds(bytes(got)) / elapsed


async def viewer(url: str, n: int, msn: int, statuses: Counter[int], retry_after: set[str]) -> None:
    """One LL-HLS viewer behind a proxy (its own X-Forwarded-For), blocking on the next segment,
    until cancelled."""
    headers = {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while True:
            async with session.get(url, params={"_HLS_msn": str(msn)}, headers=headers) as response:
                statuses[response.status] += 1
                text = await response.text()
                if response.status != 200:
                    retry_after.add(response.headers.get("Retry-After", ""))
                    await asyncio.sleep(1)  # as a player would, told Retry-After: 1
                    continue
            msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1)) + text.count("#EXTINF") + 1


async def saturated(statuses: Counter[int]) -> None:
    """Until the first refusal: the excess is refused only once the cap's blocking reloads are all
    held, so from then on the public face is saturated (it was a 2 s sleep)."""
    while not statuses[503]:
        await asyncio.sleep(0.05)


def test_the_internal_feed_keeps_its_rate_while_blocking_reloads_saturate_the_public_face(ingest_factory):
    ingest = ingest_factory(**LOW)
    playlist_url = ingest.http + "/hls/cmaf/index.m3u8"
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()

        async def scenario() -> tuple[float, float, Counter[int], set[str]]:
            # The feed alone is read while the playlist fills: the viewers need two segments listed.
            reading_alone = asyncio.create_task(read_feed(ingest.feed_url, SECONDS))
            text = await asyncio.to_thread(
                wait_for, lambda: (t := http_get(playlist_url)[1].decode()).count("#EXTINF") >= 2 and t, 30
            )
            msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1)) + text.count("#EXTINF") + 1
            alone = await reading_alone
            statuses: Counter[int] = Counter()
            retry_after: set[str] = set()
            viewers = [asyncio.create_task(viewer(playlist_url, n, msn, statuses, retry_after))
                       for n in range(VIEWERS)]  # fmt: skip
            try:
                await asyncio.wait_for(saturated(statuses), 30)
                loaded = await read_feed(ingest.feed_url, SECONDS)
            finally:
                # They loaded the ingest through the whole read: nothing is measured after it (they
                # used to run to a fixed end 4 s later, then finish their blocking reloads).
                for task in viewers:
                    task.cancel()
                ended = await asyncio.gather(*viewers, return_exceptions=True)
            failed = [e for e in ended if not isinstance(e, asyncio.CancelledError)]
            assert not failed, failed[:3]
            return alone, loaded, statuses, retry_after

        alone, loaded, statuses, retry_after = asyncio.run(scenario())
        metrics = http_get(ingest.internal + "/metrics")[1].decode()
    assert statuses[200] > 0, statuses
    assert statuses[503] > 0 and retry_after == {"1"}, f"the total cap refuses the excess at once: {statuses}"
    assert 'streamops_ingest_overload_refusals_total{reason="blocking_total_cap"' in metrics
    assert loaded >= 0.8 * alone, f"the feed under load: {loaded:.2f} media s/s, alone {alone:.2f}"


FLOOD_CONNECTIONS = 64
# Below what this ingest serves on a loaded 2-core machine (≈ 700 playlists a second measured), so
# the flood goes past it wherever the test runs; the default (load_caps.RATE_PER_CLIENT) is sized
# for a crowd of players, which one h2load here cannot reach.
FLOOD_BUDGET = 100


def counted(metrics: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_one_client_flooding_the_public_port_is_refused_past_its_rate_and_the_feed_keeps_its_own(ingest_factory):
    """One address (h2load, HTTP/1.1 keep-alive, 64 connections, reconnecting when closed) asks for
    the playlist as fast as it can for as long as a feed read lasts; issue 37's caps bounded requests
    in flight only, so every one of them was served, on the loop that feeds the recorders. (h2load
    is stopped by PID: with connections the server closes, its timed mode does not end by itself.)"""
    ingest = ingest_factory(requestRates={"perClient": FLOOD_BUDGET})
    playlist_url = ingest.http + "/hls/cmaf/index.m3u8"
    metrics_url = ingest.internal + "/metrics"
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()

        async def scenario() -> tuple[float, float, str, str, float]:
            # The feed alone is read while the playlist fills (the flood asks for a served playlist).
            reading_alone = asyncio.create_task(read_feed(ingest.feed_url, SECONDS))
            await asyncio.to_thread(wait_for, lambda: http_get(playlist_url)[1].decode().count("#EXTINF") >= 2, 30)
            alone = await reading_alone
            before = http_get(metrics_url)[1].decode()
            argv = ["h2load", "--h1", "-c", str(FLOOD_CONNECTIONS), "-n", "100000000", playlist_url]
            flood = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            started = time.monotonic()
            try:
                await asyncio.sleep(1)  # under way
                loaded = await read_feed(ingest.feed_url, SECONDS)
                after = http_get(metrics_url)[1].decode()
                elapsed = time.monotonic() - started
            finally:
                flood.kill()
                flood.wait(timeout=10)
            return alone, loaded, before, after, elapsed

        alone, loaded, before, after, elapsed = asyncio.run(scenario())
    refusal = "streamops_ingest_overload_refusals_total"
    refused = counted(after, refusal, reason="rate_client_cap") - counted(before, refusal, reason="rate_client_cap")
    served = counted(after, "streamops_playback_requests_total") - counted(before, "streamops_playback_requests_total")
    print(f"flood: {(refused + served) / elapsed:.0f} requests/s from one address answered, {refused:.0f} refused, "
          f"{served:.0f} served over {elapsed:.1f} s; feed {loaded:.2f} media s/s, alone {alone:.2f}")  # fmt: skip
    assert refused > served, f"one address past its rate is refused: {refused:.0f} refused, {served:.0f} served"
    assert served <= FLOOD_BUDGET * (elapsed + 1), f"served past its budget: {served:.0f} in {elapsed:.1f} s"
    assert loaded >= 0.8 * alone, f"the feed under the flood: {loaded:.2f} media s/s, alone {alone:.2f}"
