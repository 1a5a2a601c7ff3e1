"""`?get_duration_sec=true` on every HLS playlist of a real ingest worker fed by a real FFmpeg
publisher (segment_durations.py): FFmpeg's TS and fMP4 playlists, the transcoded multivariant
playlists and the variants they lead to, LL-HLS with parts (blocking reloads and delta updates
too). Every `duration_sec` a playlist lists is checked against ffprobe's reading of the media.

What is compared, exactly: `duration_sec` is the playlist's own duration (EXTINF, a part's
DURATION), and the muxers define it as the distance between where this segment starts and where
the next one does — FFmpeg's hls muxer as the difference of the pts of the keyframes that start two
consecutive segments (hlsenc.c, `cur_duration`), the LL-HLS packager as the sum of the fragments'
sample durations, i.e. the difference of two parts' decode times (tfdt). So for each listed segment
or part that has a listed successor, ffprobe reads the first video packet of both (pts for FFmpeg's
segments, which start on a keyframe; dts for the packager's, whose parts may start mid-GOP with
B-frames) in the stream's exact time base, and the difference must equal `duration_sec` within the
rounding of the printed value (6 decimals from FFmpeg, 5 from the packager). The packet span of a
segment (its last packet's end minus its first start) is not that number: its last frame's duration
comes from 1 ms RTMP timestamps (2.000333 s against EXTINF 2.000000, measured).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from devtools.http_client import http_get
from devtools.media.hls import ListedDuration, listed_durations
from devtools.media.peers import Publisher
from devtools.media.workers import Ingest
from devtools.versions import worker_ffmpeg_dir
from devtools.waits import wait_for

MODIFIER = "?get_duration_sec=true"
# 1 s segments of a 1 s GOP copied: whole seconds (EXTINF 1.000000, duration_sec=1, the hosted API's
# example's form). The renditions' keyframes are forced every segment; their durations are not whole
# (the encoder's frame rate: 29.42 fps from the publisher's 30, measured 0.985833 and 1.019833 s).
PUBLISHER = {"size": "320x180", "gop_seconds": 1.0}
LADDER = {"renditions": [{"name": "180p", "height": 180, "videoBitrateKbps": 300, "audioBitrateKbps": 64}]}


@dataclass
class Streams:
    copied: Ingest  # FFmpeg's TS and fMP4 playlists (standard latency, no renditions)
    transcoded: Ingest  # a ladder: multivariant playlists, LL-HLS variant with parts, TS variant


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Streams]:
    """Both ingests on air at once, each with its publisher, until each lists enough to compare."""
    work = tmp_path_factory.mktemp("durations")
    (work / "copied").mkdir()
    (work / "transcoded").mkdir()
    copied = Ingest(work / "copied", hls={"segmentSeconds": 1})
    # DVR: a window longer than six target durations, so a delta update has segments to skip.
    transcoded = Ingest(
        work / "transcoded",
        hls={"segmentSeconds": 1, "latencyMode": "low"},
        dvr={"enabled": True, "durationSeconds": 60},
        transcoding=LADDER,
    )
    publishers: list[Publisher] = []
    try:
        for ingest in (copied, transcoded):
            ingest.start()
        for ingest in (copied, transcoded):
            publishers.append(Publisher(ingest.rtmp_url(), **PUBLISHER).start())  # type: ignore[arg-type]
        copied.wait_live()
        transcoded.wait_live()
        enough = (
            (copied, "/hls/ts/index.m3u8", 5),
            (copied, "/hls/cmaf/index.m3u8", 5),
            (transcoded, "/hls/ts/180p/index.m3u8", 8),
            (transcoded, "/hls/cmaf/180p/index.m3u8", 8),  # 8 s listed: the delta update skips
        )
        for ingest, path, count in enough:
            url = ingest.http + path
            wait_for(lambda u=url, n=count: http_get(u)[1].count(b"#EXTINF") >= n, timeout=30, what=path)
        yield Streams(copied, transcoded)
    finally:
        for publisher in publishers:
            publisher.stop()
        copied.stop()
        transcoded.stop()


def fetch(url: str) -> bytes:
    code, body = http_get(url, timeout=15)
    assert code == 200, (url, code, body[:300])
    return body


def media_sequence(playlist: str) -> int:
    return int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist)[1])  # type: ignore[index]


def first_video_time(media: Path, field: str) -> Fraction:
    """The pts or dts of the first video packet (decode order) in seconds, in the stream's time base.
    Read by the workers' ffprobe (≈0.01 CPU-s a start against Debian's ≈0.10; ≈40 calls in this
    file): plain demuxing of a timestamp the muxer wrote, not code that computed `duration_sec`
    (hlsenc.c's `cur_duration`, the packager's sample durations), nor a value an ffprobe produced."""
    ffprobe = worker_ffmpeg_dir() / "bin" / "ffprobe"
    done = subprocess.run(
        [ffprobe, "-v", "error", "-of", "json", "-select_streams", "v:0", "-show_entries",
         f"packet={field}:stream=time_base", str(media)],
        capture_output=True, text=True, check=True, timeout=20,
    )  # fmt: skip
    probe = json.loads(done.stdout)
    time_base = Fraction(probe["streams"][0]["time_base"])
    return int(probe["packets"][0][field]) * time_base


def check_durations(
    playlist_url: str, items: list[ListedDuration], work: Path, field: str, decimals: int, init: bytes = b""
) -> list[str]:
    """Each item's duration_sec against ffprobe: the difference of its start and its successor's
    (items are consecutive media). Each item is fetched as listed (duration_sec in the query) and
    must be the same bytes as without. Returns the values, for the test's output."""
    assert len(items) >= 2, items
    files = []
    for i, item in enumerate(items):  # all fetched first: parts stay listed for a few seconds only
        url = urljoin(playlist_url, item.uri)
        body = fetch(url)
        assert body == fetch(url.split("?", 1)[0]), f"{item.uri}: served as without duration_sec"
        media = work / f"{i}{Path(urlsplit(url).path).suffix}"
        media.write_bytes(init + body)
        files.append(media)
    starts = [first_video_time(media, field) for media in files]
    tolerance = Fraction(1, 2 * 10**decimals) + Fraction(1, 10**9)
    for item, start, following in zip(items, starts, starts[1:], strict=False):
        measured = following - start
        assert abs(Fraction(item.duration) - measured) <= tolerance, (item, float(measured))
        assert abs(float(item.duration) - item.tag) < 1e-9, f"{item}: the playlist's own duration"
        assert re.fullmatch(r"\d+|\d+\.\d*[1-9]", item.duration), f"{item.duration}: integer or no trailing zero"
    return [item.duration for item in items]


@pytest.mark.parametrize(("flavour", "init"), [("ts", False), ("cmaf", True)])
def test_ffmpegs_playlists_list_each_segments_duration_as_ffprobe_measures_it(
    streams: Streams, tmp_path: Path, flavour: str, init: bool
) -> None:
    base = f"{streams.copied.http}/hls/{flavour}/"
    text = fetch(base + "index.m3u8" + MODIFIER).decode()
    segments, parts = listed_durations(text)
    assert not parts
    init_segment = fetch(base + "init.mp4") if init else b""
    values = check_durations(base + "index.m3u8", segments, tmp_path, "pts", 6, init_segment)
    assert set(values) == {"1"}, values
    print(f"{flavour}: duration_sec {values}")
    assert "duration_sec" not in fetch(base + "index.m3u8").decode(), "without the modifier: as before"


def test_a_transcoded_multivariant_playlist_leads_to_variants_that_keep_the_modifier(
    streams: Streams, tmp_path: Path
) -> None:
    for flavour in ("ts", "cmaf"):
        master_url = f"{streams.transcoded.http}/hls/{flavour}/index.m3u8{MODIFIER}"
        master = fetch(master_url).decode()
        variants = [line for line in master.splitlines() if line and not line.startswith("#")]
        assert variants == ["180p/index.m3u8?get_duration_sec=true"], master
        variant_url = urljoin(master_url, variants[0])
        segments, parts = listed_durations(fetch(variant_url).decode())
        work = tmp_path / flavour
        (work / "parts").mkdir(parents=True)
        if flavour == "ts":
            assert not parts
            values = check_durations(variant_url, segments[-5:], work, "pts", 6)
        else:
            init = fetch(urljoin(variant_url, "init.mp4"))
            assert len(parts) >= 10, parts  # 3 target durations of 200 ms parts, and the one in progress
            part_values = check_durations(variant_url, parts, work / "parts", "dts", 5, init)
            print(f"LL-HLS parts: duration_sec {part_values}")
            values = check_durations(variant_url, segments[-4:], work, "dts", 5, init)
            # Decodable: the renditions' init segment has its SPS/PPS (fragmented_mp4_options' delay_moov).
            decoded = subprocess.run(
                ["ffmpeg", "-v", "error", "-i", str(work / "0.m4s"), "-f", "null", "-"],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
            assert (decoded.returncode, decoded.stderr) == (0, ""), decoded.stderr
        print(f"transcoded {flavour}: duration_sec {values}")


def test_blocking_reloads_and_delta_updates_take_the_modifier(streams: Streams) -> None:
    url = f"{streams.transcoded.http}/hls/cmaf/180p/index.m3u8"
    text = fetch(url).decode()
    next_msn = media_sequence(text) + text.count("#EXTINF") + 1  # the segment after the one in progress
    blocked = fetch(f"{url}{MODIFIER}&_HLS_msn={next_msn}&_HLS_part=0").decode()
    segments, parts = listed_durations(blocked)  # every URI listed has its duration_sec
    # The blocked playlist's own first number: once the stream is older than the DVR window (a slow
    # module, a loaded machine) each new segment slides the window, and it slid while we waited.
    assert media_sequence(blocked) + len(segments) >= next_msn and parts, blocked
    assert re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-\d+\.m4s"\n', blocked), "a hint has no duration yet"

    delta = fetch(f"{url}?_HLS_skip=YES&get_duration_sec=true").decode()
    skipped = int(re.search(r"#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)", delta)[1])  # type: ignore[index]
    segments, parts = listed_durations(delta)
    assert skipped >= 1 and segments and parts, delta
