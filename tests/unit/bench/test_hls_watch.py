"""bench.hls_watch's playlist reading and its verdict over a window (bench-density's criterion)."""

from __future__ import annotations

import math

from bench.hls_watch import Segment, parse, verdict

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:41
#EXTINF:2.000,
seg-41.ts
#EXT-X-DISCONTINUITY
#EXTINF:1.960,
seg-42.ts
"""


def test_a_playlist_gives_its_target_and_segments_by_sequence() -> None:
    playlist = parse(PLAYLIST)
    assert playlist is not None
    assert playlist.target == 2
    assert playlist.segments == {41: (2.0, False), 42: (1.96, True)}
    assert parse("<html>not found</html>") is None


def stream(speed: float, count: int = 30, skip: int | None = None, duration: float = 2.0) -> dict[int, Segment]:
    """Segments of `duration` s first seen as a server at `speed` × real time writes them."""
    return {i: Segment(duration, 100 + i * duration / speed, False) for i in range(count) if i != skip}


def test_the_speed_is_media_seconds_per_wall_second_over_the_window() -> None:
    assert verdict(stream(1.0), 2, 0, 1000, 0).speed == 1.0
    slow = verdict(stream(0.95), 2, 0, 1000, 0)
    assert math.isclose(slow.speed, 0.95) and slow.missed == 0 and slow.segments == 30


def test_segments_before_the_window_and_too_few_say_nothing() -> None:
    assert verdict(stream(1.0), 2, 0, 101, 0).segments == 1
    assert math.isnan(verdict(stream(1.0), 2, 0, 103, 0).speed)  # 2 segments: no slope
    assert verdict(stream(1.0), 2, 100, 101, 0).segments == 0  # segment 0 was first seen at 100: before


def test_a_gap_a_discontinuity_or_a_long_segment_is_a_miss() -> None:
    assert verdict(stream(1.0, skip=10), 2, 0, 1000, 0).missed == 1
    restarted = stream(1.0)
    restarted[12] = Segment(2.0, restarted[12].seen_at, True)
    assert verdict(restarted, 2, 0, 1000, 0).missed == 1
    assert verdict(stream(1.0, duration=3.5), 2, 0, 1000, 0).missed == 30
