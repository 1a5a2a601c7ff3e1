"""The served HLS media playlist (streamops.media.ingest.served_playlist), pure: a window of
segments across sessions as text, each row the segments and the text expected."""

from __future__ import annotations

import pytest
from streamops.media.ingest.hls_timeline import ServedSegment
from streamops.media.ingest.served_playlist import served_playlist


def seg(
    number: int, *, disc: bool = False, seq: int = 0, init: str | None = None, pdt: str | None = None
) -> ServedSegment:
    return ServedSegment(number, 2.0, f"seg-{number}.ts", f"/s/{number}", disc, seq, pdt, init, None)


HEAD_TS = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n"
ROWS = [
    pytest.param([], False, False, HEAD_TS + "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n", id="empty"),
    pytest.param(
        [seg(7, pdt="2026-11-29T21:00:00.000+0000"), seg(8, disc=True, seq=1)],
        False,
        True,
        HEAD_TS + "#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:00.000+0000\n#EXTINF:2.000000,\nseg-7.ts\n"
        "#EXT-X-DISCONTINUITY\n#EXTINF:2.000000,\nseg-8.ts\n#EXT-X-ENDLIST\n",
        id="a session boundary, then the end",
    ),
    pytest.param(
        [seg(8, disc=True, seq=3), seg(9, seq=3)],
        False,
        False,
        HEAD_TS + "#EXT-X-MEDIA-SEQUENCE:8\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXTINF:2.000000,\nseg-8.ts\n#EXTINF:2.000000,\nseg-9.ts\n",
        id="the first listed carries no discontinuity tag: the sequence says it",
    ),
    pytest.param(
        [seg(1, init="init-0.mp4"), seg(2, init="init-0.mp4"), seg(3, disc=True, seq=1, init="init-1.mp4")],
        True,
        False,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-MAP:URI="init-0.mp4"\n#EXTINF:2.000000,\nseg-1.ts\n#EXTINF:2.000000,\nseg-2.ts\n'
        '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-1.mp4"\n#EXTINF:2.000000,\nseg-3.ts\n',
        id="fMP4: the map again after the discontinuity",
    ),
]


@pytest.mark.parametrize("segments,fmp4,ended,text", ROWS)
def test_served_playlist(segments, fmp4, ended, text):
    assert served_playlist(segments, segment_seconds=2, fmp4=fmp4, ended=ended) == text


def test_target_duration_fits_the_longest_segment_rounded_up():
    long = ServedSegment(1, 2.4, "seg-1.ts", "/s/1", False, 0)
    assert "#EXT-X-TARGETDURATION:3\n" in served_playlist([long], segment_seconds=2, fmp4=False, ended=False)
