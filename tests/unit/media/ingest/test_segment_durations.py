"""`?get_duration_sec=true` (segment_durations.py): segment and part URIs gain `duration_sec=` as the
hosted API writes it, variant URIs the modifier; the rest of a playlist stays byte for byte."""

from __future__ import annotations

import pytest
from streamops.contract.ingest import IngestConfig
from streamops.media.ingest.commands import master_playlist
from streamops.media.ingest.llhls.playlist import Part, Segment, media_playlist
from streamops.media.ingest.segment_durations import duration_value, wants_durations, with_durations

# FFmpeg 5.1's hls muxer as the ingest runs it (program_date_time after EXTINF, 6 decimals).
FFMPEG_TS = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1795679651
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:2.000000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T07:54:11.717+0000
seg-1795679651.ts
#EXTINF:1.966667,
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T07:54:13.717+0000
seg-1795679652.ts
#EXTINF:2.033000,
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T07:54:15.684+0000
seg-1795679653.ts
#EXT-X-ENDLIST
"""


@pytest.mark.parametrize(
    ("extinf", "value"),
    [
        ("2.000000", "2"),
        ("2", "2"),
        ("10.000", "10"),
        ("1.966000", "1.966"),
        ("0.20000", "0.2"),
        ("0.000000", "0"),
        ("2.002", "2.002"),
        ("02.50", "2.5"),
        (" 2.5 ", "2.5"),
        ("", None),
        ("nan", None),
        ("-1", None),
        ("1e3", None),
    ],
)
def test_a_duration_is_an_integer_when_whole_else_the_decimal_without_trailing_zeros(extinf, value):
    assert duration_value(extinf) == value


def test_the_modifier_is_on_only_for_true():
    assert wants_durations({"get_duration_sec": "true"})
    assert not wants_durations({"get_duration_sec": "false"})
    assert not wants_durations({"get_duration_sec": "1"})
    assert not wants_durations({"_HLS_msn": "3"})


def test_ffmpeg_segments_gain_their_extinf_after_the_program_date_time():
    text = with_durations(FFMPEG_TS)
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "seg-1795679651.ts?duration_sec=2",
        "seg-1795679652.ts?duration_sec=1.966667",
        "seg-1795679653.ts?duration_sec=2.033",
    ]
    # Nothing else changes.
    assert (
        text.replace("?duration_sec=2.033", "").replace("?duration_sec=1.966667", "").replace("?duration_sec=2", "")
        == FFMPEG_TS
    )


def test_an_fmp4_playlist_keeps_its_init_segment_as_it_is():
    text = with_durations('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2.000000,\nseg-000001.m4s\n')
    assert '#EXT-X-MAP:URI="init.mp4"\n' in text and "seg-000001.m4s?duration_sec=2\n" in text


def low_latency_window() -> list[Segment]:
    segments, number = [], 0
    for i in range(8):
        complete = i < 7
        durations = [0.2] * 10 if complete else [0.2, 0.16667]
        if i == 6:
            durations = [0.2] * 9 + [0.23333]  # a segment of 2.03333 s
        parts = [Part(number + k, d, k == 0) for k, d in enumerate(durations)]
        number += len(parts)
        segments.append(Segment(100 + i, 1_700_000_000 + 2 * i, parts, complete=complete))
    return segments


def render(**kw) -> str:
    return media_playlist(low_latency_window(), segment_seconds=2, part_seconds=0.2, next_part=72, ended=False, **kw)


def test_low_latency_parts_and_segments_gain_their_durations_and_the_preload_hint_none():
    text = with_durations(render())
    assert '#EXT-X-PART:DURATION=0.20000,URI="part-0.m4s?duration_sec=0.2",INDEPENDENT=YES' not in text, (
        "parts of old segments are not listed"
    )
    assert '#EXT-X-PART:DURATION=0.20000,URI="part-60.m4s?duration_sec=0.2",INDEPENDENT=YES\n' in text
    assert '#EXT-X-PART:DURATION=0.23333,URI="part-69.m4s?duration_sec=0.23333"\n' in text
    assert '#EXT-X-PART:DURATION=0.16667,URI="part-71.m4s?duration_sec=0.16667"\n' in text
    assert "#EXTINF:2.03333,\nseg-106.m4s?duration_sec=2.03333\n" in text
    assert "#EXTINF:2.00000,\nseg-100.m4s?duration_sec=2\n" in text
    # The hinted part has no duration yet: its URI stays the plain one.
    assert text.rstrip().endswith('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-72.m4s"')
    assert '#EXT-X-MAP:URI="init.mp4"' in text
    listed = render().count("URI=")
    assert text.count("duration_sec=") == listed - 2 + render().count("#EXTINF")  # all but map and hint


def test_a_delta_playlist_keeps_its_skip_and_gains_durations_on_what_it_lists():
    plain = render(skip=True)
    text = with_durations(plain)
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in plain and text.count("#EXT-X-SKIP:") == 1
    assert "seg-100.m4s" not in text
    assert text.count("?duration_sec=") == plain.count("#EXTINF") + plain.count("#EXT-X-PART:")


def test_a_multivariant_playlist_passes_the_modifier_to_its_variants():
    config = IngestConfig.model_validate(
        {
            "stream": "cam",
            "source": {"push": {}},
            "transcoding": {
                "renditions": [
                    {"name": "360p", "height": 360, "videoBitrateKbps": 800},
                    {"name": "720p", "height": 720, "videoBitrateKbps": 3000},
                ]
            },
        }
    )
    text = with_durations(master_playlist(config, 1280, 720, closed_captions=True))
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "720p/index.m3u8?get_duration_sec=true",
        "360p/index.m3u8?get_duration_sec=true",
    ]
    assert "duration_sec=" not in text.replace("get_duration_sec", "")


def test_alternate_renditions_and_existing_queries():
    text = with_durations(
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"\n'
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="iframes.m3u8?x=1"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\r\n'
        "\r\n"
        "v/index.m3u8?x=1\r\n"
    )
    assert 'URI="audio/index.m3u8?get_duration_sec=true"' in text
    assert 'URI="iframes.m3u8?x=1&get_duration_sec=true"' in text
    assert text.endswith('AUDIO="a"\r\n\r\nv/index.m3u8?x=1&get_duration_sec=true\r\n'), "line endings kept"


def test_a_line_that_is_not_a_decimal_duration_leaves_its_uri_alone():
    text = with_durations("#EXTM3U\n#EXTINF:abc,\nseg-1.ts\n#EXTINF:2.0,\nseg-2.ts\nseg-3.ts\n")
    assert text == "#EXTM3U\n#EXTINF:abc,\nseg-1.ts\n#EXTINF:2.0,\nseg-2.ts?duration_sec=2\nseg-3.ts\n"
