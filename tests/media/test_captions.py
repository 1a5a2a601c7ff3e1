"""CEA-608 captions through the ingest worker with real FFmpeg: a publisher whose H.264 carries known
caption text (devtools/media/captions.py) pushes over RTMP; the text is read back, by Debian's FFmpeg
(`subcc`), from HLS segments of the copied stream and of every rendition of a ladder, whose
multivariant playlists declare the captions, also once they start mid-stream, and say NONE before
(docs/design/captions.md)."""

from __future__ import annotations

import itertools
import re

import pytest
from devtools.http_client import http_get
from devtools.media.captions import CaptionedPublisher, captioned_clip, read_captions
from devtools.waits import wait_for

CAPTION = re.compile(r"CAPTION (\d)")
CC_MEDIA = '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="English",LANGUAGE="en",INSTREAM-ID="CC1"'


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return captioned_clip(tmp_path_factory.mktemp("captioned"))


def captions_of(ingest, playlist_path: str, name: str) -> list[str]:
    """The captions of the last three segments listed at `playlist_path` (init + segments for fMP4),
    once it lists that many."""
    url = f"{ingest.http}/hls/{playlist_path}"
    base = url.rsplit("/", 1)[0]

    def three_segments():
        code, body = http_get(url)
        segments = re.findall(r"^(seg-\d+\.(?:m4s|ts))$", body.decode(), re.M) if code == 200 else []
        return len(segments) >= 3 and segments[-3:]

    segments = wait_for(three_segments, timeout=30, what=f"three segments in {playlist_path}")
    media = b"".join(http_get(f"{base}/{s}")[1] for s in segments)
    if segments[0].endswith(".m4s"):
        media = http_get(f"{base}/init.mp4")[1] + media
    path = ingest.workdir / f"{name}.{'mp4' if segments[0].endswith('.m4s') else 'ts'}"
    path.write_bytes(media)
    return read_captions(path)


def assert_consecutive_captions(texts: list[str], where: str) -> None:
    """≈6 s of media: the clip's captions one a second, each whole and in order (the clip loops: 9 → 0)."""
    numbers = [int(m[1]) for t in texts if (m := CAPTION.fullmatch(t))]
    assert len(numbers) >= 4 and len(numbers) == len(texts), f"{where}: {texts}"
    assert all(b == (a + 1) % 10 for a, b in itertools.pairwise(numbers)), f"{where}: {texts}"


def test_captions_survive_the_copied_stream(ingest_factory, clip):
    ingest = ingest_factory(hls={"segmentSeconds": 2})
    with CaptionedPublisher(ingest.rtmp_url(), clip, duration=40):
        ingest.wait_live(timeout=20)
        for variant, name in (("cmaf", "copy-cmaf"), ("ts", "copy-ts")):
            assert_consecutive_captions(captions_of(ingest, f"{variant}/index.m3u8", name), variant)


def test_captions_survive_every_rendition_and_the_playlist_declares_them(ingest_factory, clip):
    ladder = [
        {"name": "360p", "height": 360, "videoBitrateKbps": 600},
        {"name": "180p", "height": 180, "videoBitrateKbps": 200},
    ]
    ingest = ingest_factory(transcoding={"renditions": ladder}, hls={"segmentSeconds": 2})
    with CaptionedPublisher(ingest.rtmp_url(), clip, duration=40):
        ingest.wait_live(timeout=20)
        for variant in ("cmaf", "ts"):
            # Declared once the feed's bytes showed a caption header: in the first batch usually, a
            # moment later when that batch ended before the first picture's SEI (the CI of 6e78456
            # read NONE right after live; the playlist is rewritten then, as for late captions).
            lines = wait_for(
                lambda v=variant: (
                    CC_MEDIA in (text := http_get(f"{ingest.http}/hls/{v}/index.m3u8")[1].decode())
                    and text.splitlines()
                ),
                timeout=10,
                what=f"{variant}: captions declared",
            )
            variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
            assert len(variants) == 2 and all('CLOSED-CAPTIONS="cc"' in v for v in variants), lines
            for rendition in ("360p", "180p"):
                texts = captions_of(ingest, f"{variant}/{rendition}/index.m3u8", f"{variant}-{rendition}")
                assert_consecutive_captions(texts, f"{variant}/{rendition}")


def test_captions_that_start_late_are_declared_when_they_come(ingest_factory, tmp_path):
    late = captioned_clip(tmp_path / "late", captions_from=6)  # 6 s without any caption data
    ladder = [{"name": "180p", "height": 180, "videoBitrateKbps": 200}]
    ingest = ingest_factory(transcoding={"renditions": ladder}, hls={"segmentSeconds": 2, "mpegts": False})
    master_url = f"{ingest.http}/hls/cmaf/index.m3u8"
    with CaptionedPublisher(ingest.rtmp_url(), late, duration=30):
        ingest.wait_live(timeout=20)
        before = wait_for(lambda: (r := http_get(master_url))[0] == 200 and r[1].decode(), timeout=10)
        assert "CLOSED-CAPTIONS=NONE" in before and CC_MEDIA not in before, before
        after = wait_for(lambda: CC_MEDIA in (t := http_get(master_url)[1].decode()) and t, timeout=15)
        assert 'CLOSED-CAPTIONS="cc"' in after and "NONE" not in after, after
