"""devtools.media.viewer_log: a window's figures from hlsload's request log."""

from __future__ import annotations

import json
from typing import Any

import pytest
from devtools.media.viewer_log import Figures, longest_gap, read_log, resets, trouble_by_second

BASE = "http://10.241.0.11:31000/streams/ns/cam/hls/ll/"


def playlist(t: float, seq: int, next_msn: int, hint: int, *, dseq: int = 0, status: int = 200, viewer: int = 0) -> str:
    line: dict[str, Any] = {"t": t, "viewer": viewer, "kind": "playlist_blocking", "url": BASE + "index.m3u8",
                            "status": status, "bytes": 900, "ms": 40.0}  # fmt: skip
    if status == 200:
        line |= {"media_sequence": seq, "discontinuity_sequence": dseq, "next_msn": next_msn, "next_part": 1,
                 "hint": hint}  # fmt: skip
    return json.dumps(line)


def part(t: float, n: int, *, status: int = 200, viewer: int = 0, kind: str = "part_hinted") -> str:
    return json.dumps({"t": t, "viewer": viewer, "kind": kind, "url": f"{BASE}part-{n}.m4s?_sid=x", "status": status,
                       "bytes": 30000 if status == 200 else 0, "ms": 400.0, "msn": n // 4, "part": n})  # fmt: skip


def steady(start: float, end: float, first_part: int, seq: int = 10) -> list[str]:
    """A healthy viewer: a part every 0.5 s, each announced by a blocking reload."""
    lines, t, n = [], start, first_part
    while t < end:
        lines += [playlist(t, seq + n // 40, n // 4, n), part(t + 0.4, n)]
        t, n = t + 0.5, n + 1
    return lines


def log(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def test_a_healthy_window_has_no_breach() -> None:
    requests = read_log(log(steady(100.0, 130.0, 400)))
    figures = Figures.of(requests, 110.0, 120.0, segment_seconds=2)
    assert figures.non_200 == {} and figures.resets == 0 and figures.breaches() == []
    assert figures.longest_stall_s == pytest.approx(0.5, abs=0.01)
    assert figures.requests == 41 and figures.stall_segments == 0.25  # both edges inside


def test_an_ingest_replaced_without_a_handover_breaks_every_bound() -> None:
    """The issue's drain: 404s and refused connections for a while, then a packager numbering from 0
    again; the viewer's first new part comes 6 s after the last old one."""
    lines = steady(100.0, 110.0, 400)  # last part received at 109.9
    lines += [playlist(110.5 + i * 0.5, 0, 0, 0, status=404) for i in range(8)]
    lines += [json.dumps({"t": 114.6, "viewer": 0, "kind": "playlist", "url": BASE + "index.m3u8", "status": 0,
                          "error": "connection", "bytes": 0, "ms": 1.0})]  # fmt: skip
    lines += steady(115.5, 125.0, 0, seq=0)  # numbers from 0 again: first new part at 115.9
    figures = Figures.of(read_log(log(lines)), 108.0, 125.0, segment_seconds=2)
    assert figures.non_200 == {0: 1, 404: 8} and figures.not_found == 8
    assert figures.resets == 1, "the first playlist of the new packager; later ones go on from there"
    assert figures.longest_stall_s == pytest.approx(6.0, abs=0.01) and figures.stall_segments == 3
    assert figures.breaches() == ["8 answers 404", "1 media-sequence resets", "a stall of 6.0 s (3 segments)"]
    assert "non-200: no answer: 1, 404: 8" in figures.line()


def test_a_reset_counts_once_and_belongs_to_the_window_it_happened_in() -> None:
    """After the numbers went back, the playlists go on from the new ones: lower than the old numbers
    still, but each above its previous one. A stale playlist in between (an old Pod answering once
    more) is a going back too, and so is the new one after it."""
    lines = steady(100.0, 105.0, 400) + steady(105.0, 115.0, 0, seq=0)
    requests = read_log(log(lines))
    assert [r.t for r in resets(requests, 100.0, 115.0)] == [105.0]
    assert resets(requests, 106.0, 115.0) == []
    flip = [*steady(100.0, 105.0, 400), playlist(105.2, 10, 99, 399), *steady(105.5, 107.0, 410)]
    assert [r.t for r in resets(read_log(log(flip)), 100.0, 107.0)] == [105.2]


def test_a_continuing_sequence_after_a_discontinuity_is_no_reset() -> None:
    lines = steady(100.0, 110.0, 400)
    lines += [playlist(110.0 + i * 0.5, 20, 110 + i // 4, 440 + i, dseq=1) for i in range(10)]
    assert resets(read_log(log(lines)), 100.0, 120.0) == []


def test_each_viewer_is_its_own_history_and_the_stall_is_the_longest_of_any() -> None:
    one = steady(100.0, 120.0, 400)
    other = [
        line.replace('"viewer": 0', '"viewer": 1') for line in steady(100.0, 108.0, 400) + steady(111.0, 120.0, 424)
    ]
    figures = Figures.of(read_log(log(one + other)), 100.0, 120.0, segment_seconds=2)
    assert figures.resets == 0
    assert figures.longest_stall_s == pytest.approx(3.5, abs=0.01)


def test_a_part_fetched_again_is_not_new_and_a_viewer_without_media_stalls_the_whole_window() -> None:
    lines = [part(100.4, 7), part(101.0, 7, kind="part"), part(103.0, 8, status=404)]
    figures = Figures.of(read_log(log(lines)), 100.0, 104.0, segment_seconds=2)
    assert figures.longest_stall_s == pytest.approx(3.6) and figures.not_found == 1
    assert Figures.of([], 100.0, 104.0, 2).longest_stall_s == 4.0


def test_longest_gap_counts_the_edges() -> None:
    assert longest_gap([], 0.0, 3.0) == 3.0
    assert longest_gap([1.0, 1.5, 9.0], 0.5, 2.0) == pytest.approx(0.5)
    assert longest_gap([0.2, 2.9], 0.0, 3.0) == pytest.approx(2.7)


def test_a_line_cut_short_at_the_end_is_left_out_any_other_bad_line_fails() -> None:
    text = log(steady(100.0, 101.0, 400)) + '{"t": 101.2, "viewer": 0, "ki'
    assert len(read_log(text)) == 4
    with pytest.raises(ValueError):
        read_log('{"t": 1\n' + log(steady(100.0, 101.0, 400)))


def test_a_playlist_that_ends_the_stream_is_a_breach() -> None:
    ended = json.loads(playlist(110.0, 20, 110, 440))
    lines = [*steady(100.0, 110.0, 400), json.dumps(ended | {"endlist": True})]
    figures = Figures.of(read_log(log(lines)), 105.0, 112.0, segment_seconds=2)
    assert figures.ended == 1 and figures.breaches()[0].startswith("the playlist ended the stream")
    assert "ENDLIST: the player stopped" in figures.line()


def test_trouble_by_second_names_failures_and_slow_answers_beside_the_events() -> None:
    failed = json.dumps({"t": 1012.5, "viewer": 3, "kind": "playlist_blocking", "url": BASE + "index.m3u8",
                         "status": 0, "error": "connection", "bytes": 0, "ms": 2.0})  # fmt: skip
    lines = [*steady(1000.0, 1020.0, 40), part(1012.2, 99, status=502), failed, part(1015.0, 100, viewer=2)]
    requests = read_log(log(lines))
    assert requests[-1].ms == 400.0 and any(r.error == "connection" for r in requests)
    # The steady viewer's parts take 400 ms: slow only past that.
    out = trouble_by_second(requests, 1000.0, slow_ms=300.0, events=[(1011.0, "3 replicas")], limit=2)
    assert "t+11.0s: -- 3 replicas" in out
    assert "t+12s: part_hinted 502 ×1, part_hinted slow ×2, playlist_blocking connection ×1" in out
    assert len(out) == 3, out  # the two worst seconds and the event
    assert trouble_by_second(requests, 1000.0, slow_ms=500.0) == [
        "t+12s: part_hinted 502 ×1, playlist_blocking connection ×1"
    ]
