"""The served HLS media playlist of a standard variant, pure: a Timeline's window (hls_timeline.py)
as text. EXT-X-MEDIA-SEQUENCE and EXT-X-DISCONTINUITY-SEQUENCE are the first listed segment's, an
EXT-X-DISCONTINUITY precedes each session's first segment and, for fMP4, an EXT-X-MAP names the
init segment in force wherever it changes. Why: docs/design/handover.md (the data plane).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from streamops.media.ingest.hls_timeline import ServedSegment


def target_duration(segments: Sequence[ServedSegment], segment_seconds: int) -> int:
    """As FFmpeg's hls muxer: every EXTINF rounded up fits; never below the configured length (so it
    does not change as long segments leave the window, which RFC 8216 forbids)."""
    longest = max((s.duration for s in segments), default=0.0)
    return max(segment_seconds, math.ceil(longest - 1e-3))


def served_playlist(segments: Sequence[ServedSegment], *, segment_seconds: int, fmp4: bool, ended: bool) -> str:
    """`segments`: the window, oldest first; `ended`: EXT-X-ENDLIST (the broadcast ended)."""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{7 if fmp4 else 6}",
        f"#EXT-X-TARGETDURATION:{target_duration(segments, segment_seconds)}",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].number if segments else 0}",
    ]
    if segments and segments[0].discontinuity_sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{segments[0].discontinuity_sequence}")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    init: str | None = None
    for i, s in enumerate(segments):
        if s.discontinuity and i > 0:
            lines.append("#EXT-X-DISCONTINUITY")
        if s.init_uri is not None and s.init_uri != init:
            lines.append(f'#EXT-X-MAP:URI="{s.init_uri}"')
            init = s.init_uri
        if s.program_date_time:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{s.program_date_time}")
        lines += [f"#EXTINF:{s.duration:.6f},", s.uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
