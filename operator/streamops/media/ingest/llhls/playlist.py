"""The LL-HLS media playlist as text (RFC 8216bis): segments of the DVR window, the parts of the
last few segments and of the one being written, the preload hint of the next part, and server
control for blocking reloads and delta updates. Pure: the packager hands in what it has."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamops.contract.decimal_text import decimal


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
) -> str:
    """`segments`: oldest first, the last one possibly still being written (complete False).
    `next_part`: the number of the part FFmpeg writes next (the preload hint), None once ended."""
    target = target_duration(segments, segment_seconds)
    ptarget = part_target(segments, part_seconds)
    skip_until = SKIP_TARGET_DURATIONS * target
    complete = [s for s in segments if s.complete]
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1f},PART-HOLD-BACK={3 * ptarget:.3f}",
        f"#EXT-X-PART-INF:PART-TARGET={ptarget:.3f}",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].msn if segments else 0}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{INIT_URI}"',
    ]
    total = sum(s.duration for s in segments)
    skipped = 0
    if skip:
        # Segments wholly older than skip_until from the end of the playlist go as one tag.
        elapsed = 0.0
        for s in complete:
            if total - (elapsed + s.duration) < skip_until:
                break
            elapsed += s.duration
            skipped += 1
        if skipped:
            lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
    parts_from = total - PARTS_KEPT_TARGET_DURATIONS * target
    elapsed = 0.0
    for i, s in enumerate(segments):
        elapsed += s.duration
        if i < skipped:
            continue
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


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
