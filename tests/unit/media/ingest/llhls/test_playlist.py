"""The LL-HLS media playlist as the packager hands it segments and parts (RFC 8216bis rules that
players rely on): target durations, parts only near the live edge, delta updates, the end."""

from __future__ import annotations

import re

from streamops.media.ingest.llhls.playlist import (
    Part,
    Segment,
    media_playlist,
    part_number,
    part_target,
    segment_number,
    segment_uri,
    target_duration,
)


def window(count: int, parts_per_segment: int = 10, part: float = 0.2, in_progress: int = 3) -> list[Segment]:
    segments, number = [], 0
    for i in range(count + (1 if in_progress else 0)):
        last = i == count
        n = in_progress if last else parts_per_segment
        parts = [Part(number + k, part, k == 0) for k in range(n)]
        number += n
        segments.append(Segment(1000 + i, 1_700_000_000 + 2 * i, parts, complete=not last))
    return segments


def render(segments: list[Segment], **kw) -> str:
    kw.setdefault("ended", False)
    return media_playlist(segments, segment_seconds=2, part_seconds=0.2, next_part=kw.pop("next_part", 999), **kw)


def test_live_edge_has_parts_a_preload_hint_and_server_control():
    text = render(window(10))
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n")
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.600" in text
    assert "#EXT-X-PART-INF:PART-TARGET=0.200" in text
    assert "#EXT-X-MEDIA-SEQUENCE:1000" in text
    assert text.rstrip().endswith('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-999.m4s"')
    # Parts for the segments within 3 target durations (6 s) of the end, and the one in progress.
    listed = {int(n) for n in re.findall(r'URI="part-(\d+)\.m4s"', text.split("PRELOAD-HINT")[0])}
    assert listed == set(range(70, 103)), sorted(listed)
    assert text.count("#EXTINF:2.00000,") == 10 and text.count("#EXT-X-PROGRAM-DATE-TIME:") == 11
    assert '#EXT-X-PART:DURATION=0.20000,URI="part-100.m4s",INDEPENDENT=YES' in text


def test_delta_update_skips_what_is_older_than_six_target_durations():
    text = render(window(10), skip=True)
    # 20.6 s listed; segments ending more than 12 s before the end go: the first four.
    assert "#EXT-X-SKIP:SKIPPED-SEGMENTS=4" in text
    assert "seg-1003.m4s" not in text and "seg-1004.m4s" in text
    assert "#EXT-X-MEDIA-SEQUENCE:1000" in text, "the sequence number still counts the skipped segments"


def test_ended_playlist_has_endlist_and_no_hint():
    segments = window(3, in_progress=0)
    text = render(segments, ended=True, next_part=None)
    assert text.rstrip().endswith("#EXT-X-ENDLIST") and "PRELOAD-HINT" not in text


def test_targets_follow_what_was_cut():
    longer = window(2, parts_per_segment=12, part=0.21)  # 2.52 s segments of 210 ms parts
    assert target_duration(longer, 2) == 3, "2.52 rounds to 3: EXTINF rounded must fit"
    assert target_duration(window(2, parts_per_segment=10, part=0.2049), 2) == 2, "2.049 rounds to 2"
    assert part_target(longer, 0.2) == 0.21, "a part longer than configured raises PART-TARGET"
    assert part_target(window(2), 0.2) == 0.2
    assert part_target(window(1, part=0.20397), 0.2) == 0.204


def test_a_media_uri_with_digits_that_are_not_ascii_names_nothing():
    """str.isdigit() takes "²" (int() raises: a 500) and "３" (int() reads 3: another segment's name)."""
    assert segment_number(segment_uri(7)) == 7
    for uri in (segment_uri(7).replace("7", "²"), segment_uri(7).replace("7", "３")):
        assert segment_number(uri) is None and part_number(uri) is None
