"""The LL-HLS media playlist as text (RFC 8216bis): segments of the DVR window, the parts of the
last few segments and of the one being written, the preload hint of the next part, and server
control for blocking reloads and delta updates. Pure: the packager hands in what it has."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamops.contract.decimal_text import decimal
from streamops.media.ingest.hls_timeline import ServedSegment


@dataclass(frozen=True)
class Part:
    number: int  # running part number of the session (the URI), not the index within the segment
    duration: float
    independent: bool


@dataclass
class Segment:
    msn: int
    started_at: float  # wall clock (epoch seconds) of its first frame: EXT-X-PROGRAM-DATE-TIME
    parts: list[Part] = field(default_factory=list)
    complete: bool = False

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)


_PART, _SEGMENT, _MEDIA = "part-", "seg-", ".m4s"


def part_uri(number: int) -> str:
    return f"{_PART}{number}{_MEDIA}"


def segment_uri(msn: int) -> str:
    return f"{_SEGMENT}{msn}{_MEDIA}"


def _uri_number(uri: str, prefix: str) -> int | None:
    digits = uri.removeprefix(prefix).removesuffix(_MEDIA)
    return decimal(digits) if uri.startswith(prefix) and uri.endswith(_MEDIA) else None


def part_number(uri: str) -> int | None:
    """The number in a part_uri(), None for any other name."""
    return _uri_number(uri, _PART)


def segment_number(uri: str) -> int | None:
    """The sequence number in a segment_uri(), None for any other name."""
    return _uri_number(uri, _SEGMENT)


INIT_URI = "init.mp4"
# Parts are listed for the segments that end within this many target durations of the live edge
# (RFC 8216bis §4.4.3.8: older ones SHOULD go; players joining need ≥ PART-HOLD-BACK of them).
PARTS_KEPT_TARGET_DURATIONS = 3
# Delta updates: a player that has the playlist asks for ?_HLS_skip=YES and gets segments older
# than this many target durations as one EXT-X-SKIP (the RFC's minimum is 6).
SKIP_TARGET_DURATIONS = 6


def target_duration(segments: list[Segment], segment_seconds: int) -> int:
    """RFC 8216 §4.3.3.1: every EXTINF, rounded to the nearest integer, fits the target duration."""
    longest = max((s.duration for s in segments if s.complete), default=0.0)
    return max(segment_seconds, math.floor(longest + 0.5))


def part_target(segments: list[Segment], part_seconds: float) -> float:
    """The configured part length, or the longest part listed when FFmpeg's fragments came out
    longer (a frame rate the length is not a multiple of): every part MUST fit PART-TARGET."""
    longest = max((p.duration for s in segments for p in s.parts), default=0.0)
    return max(part_seconds, math.ceil(longest * 1000 - 1e-6) / 1000)  # printed with 3 decimals: never below


def media_playlist(
    segments: list[Segment],
    *,
    segment_seconds: int,
    part_seconds: float,
    next_part: int | None,
    ended: bool,
    skip: bool = False,
    earlier: Sequence[ServedSegment] = (),
    init_uri: str = INIT_URI,
    discontinuity_sequence: int = 0,
) -> str:
    """`segments`: oldest first, the last one possibly still being written (complete False).
    `next_part`: the number of the part FFmpeg writes next (the preload hint), None once ended.
    `earlier`: the complete segments of the sessions before this one still in the window (their
    own init URIs; no parts), then a discontinuity; `init_uri` and `discontinuity_sequence`: this
    session's (continuity.py hands them out)."""
    durations = [s.duration for s in earlier] + [s.duration for s in segments if s.complete]
    target = max(target_duration(segments, segment_seconds), math.floor(max(durations, default=0.0) + 0.5))
    ptarget = part_target(segments, part_seconds)
    skip_until = SKIP_TARGET_DURATIONS * target
    complete = len(earlier) + len([s for s in segments if s.complete])
    first = earlier[0].number if earlier else segments[0].msn if segments else 0
    sequence = earlier[0].discontinuity_sequence if earlier else discontinuity_sequence
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1f},PART-HOLD-BACK={3 * ptarget:.3f}",
        f"#EXT-X-PART-INF:PART-TARGET={ptarget:.3f}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
    ]
    if sequence:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{sequence}")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    if not earlier:
        lines.append(f'#EXT-X-MAP:URI="{init_uri}"')
    total = sum(durations) + sum(s.duration for s in segments if not s.complete)
    skipped = _skipped(durations[:complete], total, skip_until) if skip else 0
    if skipped:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
    lines += _earlier_lines(earlier, skipped)
    elapsed = sum(e.duration for e in earlier)
    parts_from = total - PARTS_KEPT_TARGET_DURATIONS * target
    for i, s in enumerate(segments):
        elapsed += s.duration
        index = len(earlier) + i
        if index < skipped:
            continue
        if earlier and i == 0:
            lines.append("#EXT-X-DISCONTINUITY")
        if earlier and (i == 0 or index == skipped):
            lines.append(f'#EXT-X-MAP:URI="{init_uri}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_iso(s.started_at)}")
        if elapsed > parts_from or not s.complete:
            for p in s.parts:
                independent = ",INDEPENDENT=YES" if p.independent else ""
                lines.append(f'#EXT-X-PART:DURATION={p.duration:.5f},URI="{part_uri(p.number)}"{independent}')
        if s.complete:
            lines += [f"#EXTINF:{s.duration:.5f},", segment_uri(s.msn)]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    elif next_part is not None:
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{part_uri(next_part)}"')
    return "\n".join(lines) + "\n"


def _skipped(durations: Sequence[float], total: float, skip_until: float) -> int:
    """How many segments wholly older than skip_until from the end of the playlist go as one tag."""
    elapsed, skipped = 0.0, 0
    for duration in durations:
        if total - (elapsed + duration) < skip_until:
            break
        elapsed += duration
        skipped += 1
    return skipped


def _earlier_lines(earlier: Sequence[ServedSegment], skipped: int) -> list[str]:
    """The earlier sessions' segments after the `skipped` first: a discontinuity where a session
    starts, its init segment's EXT-X-MAP where it changes (and on the first one listed)."""
    lines: list[str] = []
    map_uri: str | None = None
    for i, e in enumerate(earlier):
        if i < skipped:
            continue
        if e.discontinuity and i > 0:
            lines.append("#EXT-X-DISCONTINUITY")
        if e.init_uri is not None and (e.init_uri != map_uri or i == skipped):
            lines.append(f'#EXT-X-MAP:URI="{e.init_uri}"')
            map_uri = e.init_uri
        if e.program_date_time:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{e.program_date_time}")
        lines += [f"#EXTINF:{e.duration:.5f},", e.uri]
    return lines


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
