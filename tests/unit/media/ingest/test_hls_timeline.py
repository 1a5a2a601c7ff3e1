"""The served segments across sessions (streamops.media.ingest.hls_timeline), pure: each row a run of
sessions' playlists and the numbers, discontinuities and init URIs served."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamops.media.ingest.hls_timeline import (
    SEGMENTS_KEPT_BEYOND_WINDOW,
    SourcePlaylist,
    SourceSegment,
    Timeline,
    begin,
    extend,
    parse_source,
    unseen_from,
)

FFMPEG = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1764450000
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:00.000+0000
#EXTINF:2.000000,
seg-1764450000.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:02.000+0000
#EXTINF:1.966000,
seg-1764450001.m4s
#EXT-X-ENDLIST
"""


def test_ffmpeg_playlist_parses_into_numbered_segments():
    parsed = parse_source(FFMPEG)
    assert parsed.init_name == "init.mp4" and parsed.ended
    assert parsed.segments == (
        SourceSegment(1764450000, 2.0, "seg-1764450000.m4s", "2026-11-29T21:00:00.000+0000"),
        SourceSegment(1764450001, 1.966, "seg-1764450001.m4s", "2026-11-29T21:00:02.000+0000"),
    )


@pytest.mark.parametrize("text", ["", "seg-1.ts\n", "#EXTM3U\nseg-1.ts\n", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n"])
def test_what_is_not_a_playlist_is_refused(text):
    with pytest.raises(ValueError):
        parse_source(text)


def source(first: int, count: int, *, init: bool = True, ended: bool = False) -> SourcePlaylist:
    return SourcePlaylist(
        tuple(SourceSegment(first + i, 2.0, f"seg-{first + i}.m4s") for i in range(count)),
        "init.mp4" if init else None,
        ended,
    )


# (sessions: (name, first number, segments written), what is served: (number, discontinuity, init URI))
ROWS = [
    pytest.param(
        [("a", 500, 3)],
        [(500, False, "init-500.mp4"), (501, False, "init-500.mp4"), (502, False, "init-500.mp4")],
        id="the first session keeps its numbers",
    ),
    pytest.param(
        [("a", 500, 2), ("b", 9000, 2)],
        [
            (500, False, "init-500.mp4"),
            (501, False, "init-500.mp4"),
            (502, True, "init-502.mp4"),
            (503, False, "init-502.mp4"),
        ],
        id="a reconnect goes on with the next number, its init segment named by its first",
    ),
    pytest.param(
        [("a", 500, 1), ("b", 10, 1), ("c", 7, 1)],
        [(500, False, "init-500.mp4"), (501, True, "init-501.mp4"), (502, True, "init-502.mp4")],
        id="lower numbers of a later session never go back",
    ),
]


@pytest.mark.parametrize("sessions,served", ROWS)
def test_sessions_are_served_one_after_the_other(sessions, served):
    timeline = Timeline(window=10)
    for name, first, count in sessions:
        timeline = extend(timeline, name, f"/s/{name}", source(first, count), ".m4s")
    assert [(s.number, s.discontinuity, s.init_uri) for s in timeline.listed] == served
    assert [s.uri for s in timeline.listed] == [f"seg-{n}.m4s" for n, _, _ in served]
    sequences = [s.discontinuity_sequence for s in timeline.listed]
    assert sequences == [sum(d for _, d, _ in served[: i + 1]) for i in range(len(served))]


def test_a_growing_playlist_adds_each_segment_once_and_keeps_the_window_and_its_grace():
    timeline = Timeline(window=3)
    for count in range(1, 9):
        timeline = extend(timeline, "a", "/s/a", source(100, count), ".ts")
    assert [s.number for s in timeline.segments] == list(range(108 - 3 - SEGMENTS_KEPT_BEYOND_WINDOW, 108))
    assert [s.number for s in timeline.listed] == [105, 106, 107]
    assert timeline.path_of("seg-107.ts") == "/s/a/seg-107.m4s" and timeline.path_of("seg-99.ts") is None


def test_discontinuity_sequence_counts_boundaries_that_left_the_window():
    timeline = Timeline(window=2)
    for name, first in (("a", 1), ("b", 50), ("c", 90)):
        timeline = extend(timeline, name, f"/s/{name}", source(first, 3, init=False), ".ts")
    first = timeline.listed[0]
    assert (first.number, first.discontinuity_sequence, first.init_uri) == (8, 2, None)


def test_a_session_going_on_air_with_segments_written_serves_only_the_later_ones():
    timeline = extend(Timeline(window=10), "own", "/s/own", source(10, 2), ".m4s")
    timeline = extend(timeline, "relay", "/s/relay", source(700, 2), ".m4s")
    back = begin(timeline, "own", source(10, 5).segments)  # it went on writing while not on air
    back = extend(back, "own", "/s/own", source(10, 7), ".m4s")
    served = [(s.number, s.path) for s in back.listed[-3:]]
    assert served == [(13, "/s/relay/seg-701.m4s"), (14, "/s/own/seg-15.m4s"), (15, "/s/own/seg-16.m4s")]
    assert back.listed[-2].discontinuity and back.listed[-2].init_uri == "init-14.mp4"


def test_an_ended_playlist_ends_until_the_next_session_appends():
    timeline = extend(Timeline(window=5), "a", "/s/a", source(1, 2, ended=True), ".ts")
    assert timeline.ended
    assert not extend(timeline, "b", "/s/b", source(1, 1), ".ts").ended


@given(
    first=st.integers(0, 2_000_000_000),
    count=st.integers(0, 12),
    dated=st.booleans(),
    date_first=st.booleans(),
    ended=st.booleans(),
    after=st.integers(-3, 15),
)
def test_reading_only_the_tail_finds_what_reading_it_all_finds(first, count, dated, date_first, ended, after):
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}",
             '#EXT-X-MAP:URI="init.mp4"']  # fmt: skip
    for n in range(count):
        date = [f"#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:{n:02d}.000+0000"] if dated else []
        extinf = [f"#EXTINF:{1 + n / 100:.6f},"]  # FFmpeg 7.1 writes it before the date
        lines += [*date, *extinf] if date_first else [*extinf, *date]
        lines.append(f"seg-{first + n}.m4s")
    text = "\n".join(lines + (["#EXT-X-ENDLIST"] if ended else [])) + "\n"
    whole = parse_source(text)
    tail = parse_source(text, first + after)
    assert tail.segments == tuple(s for s in whole.segments if s.number > first + after)
    assert (tail.init_name, tail.ended) == (whole.init_name, whole.ended)


def test_a_session_going_on_air_serves_what_it_wrote_after_the_last_served_segment_ended():
    dated = SourcePlaylist(tuple(SourceSegment(1 + n, 2.0, f"seg-{1 + n}.ts", f"2026-11-29T21:00:{2 * n:02d}.000Z")
                                 for n in range(3)))  # fmt: skip
    relay = extend(Timeline(window=10), "relay", "/s/relay", dated, ".ts")  # served up to 21:00:06
    written = tuple(SourceSegment(50 + n, 2.0, "x.ts", f"2026-11-29T21:00:0{1 + 2 * n}.000Z") for n in range(4))
    assert [s.number for s in unseen_from(relay, written)] == [50, 51, 52], "begin before 21:00:06"
    assert unseen_from(relay, [SourceSegment(9, 2.0, "x.ts")]) == (SourceSegment(9, 2.0, "x.ts"),), "no date"
    assert unseen_from(Timeline(window=3), written) == (), "nothing served yet: all of it is news"
