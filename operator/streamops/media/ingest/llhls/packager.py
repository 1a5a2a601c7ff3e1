"""LL-HLS packaging of one session's rendition: FFmpeg's fragmented MP4 (one fragment per part,
fragments.py) becomes parts served from memory and segments written to disk (a segment is its
parts' bytes), and the playlist (playlist.py) answers blocking reloads. FFmpeg 5.1's hls muxer has
no parts, so this decides the structure: a part that starts on a keyframe begins a new segment once
the current one has reached the segment length. Why: docs/design/low-latency.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamops.media.ingest.hls_timeline import ServedSegment
from streamops.media.ingest.llhls.fragments import Fragment, FragmentedStream, InitSegment
from streamops.media.ingest.llhls.playlist import (
    INIT_URI,
    PARTS_KEPT_TARGET_DURATIONS,
    Part,
    Segment,
    media_playlist,
    segment_uri,
    target_duration,
)

log = logging.getLogger("streamops.ingest.llhls")

# A segment boundary is taken at the first keyframe once the segment is this close to its length:
# keyframes forced every N s land a few ms either side of N in the fragments' timestamps.
SEGMENT_SLACK_SECONDS = 0.02
SEGMENT_FILES_KEPT_BEYOND_WINDOW = 2  # players that fetched the playlist just before a segment left it
BLOCKING_TARGET_DURATIONS = 3  # RFC 8216bis §6.2.5.2: answer 503 after three target durations


class PlaylistRequestError(ValueError):
    """A blocking reload asked for a segment more than two ahead of the live edge (HTTP 400)."""


@dataclass(frozen=True)
class Continued:
    """What a packager's session continues (continuity.py): the earlier sessions' segments in the
    window, and its own init URI and discontinuity sequence."""

    earlier: tuple[ServedSegment, ...] = ()
    init_uri: str = INIT_URI
    discontinuity_sequence: int = 0


@dataclass(frozen=True)
class PackagerSettings:
    segment_seconds: int
    part_seconds: float
    window_segments: int  # complete segments in the playlist (the DVR window)
    end_list_on_stop: bool


class LlHlsPackager:
    def __init__(self, directory: Path, settings: PackagerSettings, first_msn: int | None = None) -> None:
        self.dir = directory
        self.settings = settings
        self.stream = FragmentedStream()
        self.init: InitSegment | None = None
        self.segments: list[Segment] = []
        self.parts: OrderedDict[int, bytes] = OrderedDict()
        # Media sequence numbers from the wall clock, like the standard playlists (ingest.hls_options):
        # a later session's playlist goes on with higher numbers.
        self.next_msn = int(time.time()) if first_msn is None else first_msn
        self._files_from = self.next_msn  # the oldest segment whose file may still be on disk
        self.next_part = 0
        self.ended = False
        self._pending: list[bytes] = []  # the current segment's parts
        self._clock: tuple[float, float] | None = None  # (media time, wall clock) of the first fragment
        self._changed = asyncio.Event()
        self.updated_at = time.time()  # the playlist's Last-Modified (players judge freshness by it)
        self.segment_completed_at = 0.0  # Unix time the playlist last gained a complete segment
        # What its session continues when it goes on air after another (rebase): the earlier
        # sessions' segments still in the window, its own init URI and discontinuity sequence.
        self.earlier: tuple[ServedSegment, ...] = ()
        self.init_uri = INIT_URI
        self.discontinuity_sequence = 0
        self.hold_end = False  # a released handover predecessor's: no EXT-X-ENDLIST (continuity.py)

    # --- input ---------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        for item in self.stream.feed(chunk):
            if isinstance(item, InitSegment):
                self.init = item
                (self.dir / INIT_URI).write_bytes(item.data)
            else:
                self._add(item)
        self._notify()

    def _add(self, fragment: Fragment) -> None:
        if self._clock is None:
            self._clock = (fragment.start, time.time())
        current = self.segments[-1] if self.segments and not self.segments[-1].complete else None
        full = current is not None and current.duration >= self.settings.segment_seconds - SEGMENT_SLACK_SECONDS
        if current is None or (fragment.independent and full):
            if current is not None:
                self._complete(current)
            media_time, wall = self._clock
            current = Segment(self.next_msn, wall + fragment.start - media_time)
            self.next_msn += 1
            self.segments.append(current)
        part = Part(self.next_part, fragment.duration, fragment.independent)
        self.next_part += 1
        current.parts.append(part)
        self.parts[part.number] = fragment.data
        self._pending.append(fragment.data)

    def _complete(self, segment: Segment) -> None:
        tmp = self.dir / f".{segment_uri(segment.msn)}"
        tmp.write_bytes(b"".join(self._pending))
        tmp.replace(self.dir / segment_uri(segment.msn))
        self._pending = []
        segment.complete = True
        self.segment_completed_at = time.time()
        window = self.settings.window_segments
        complete = [s for s in self.segments if s.complete]
        for old in complete[: max(0, len(complete) - window)]:
            self.segments.remove(old)
        # Files by sequence number, not among the listed segments (the list holds the window only):
        # a player that loaded the playlist just before still fetches the few before it.
        keep_from = self.segments[0].msn - SEGMENT_FILES_KEPT_BEYOND_WINDOW
        for msn in range(self._files_from, keep_from):
            (self.dir / segment_uri(msn)).unlink(missing_ok=True)
        self._files_from = max(self._files_from, keep_from)
        # Parts are served for the segments the playlist lists them for, and one more.
        target = target_duration(self.segments, self.settings.segment_seconds)
        keep_seconds = (PARTS_KEPT_TARGET_DURATIONS + 1) * target
        kept: set[int] = set()
        elapsed = 0.0
        for s in reversed(self.segments):
            kept.update(p.number for p in s.parts)
            elapsed += s.duration
            if elapsed > keep_seconds:
                break
        for number in [n for n in self.parts if n not in kept]:
            del self.parts[number]

    def rebase(self, first_msn: int, first_part: int, continued: Continued) -> None:
        """Its session goes on air: the segment being written (if any) becomes `first_msn`, its
        parts numbered from `first_part`, after the `continued` sessions' segments. Segments it
        completed before were never served (another session was on air): dropped from the
        playlist, their files left to the session's directory."""
        current = self.segments[-1] if self.segments and not self.segments[-1].complete else None
        renumbered: OrderedDict[int, bytes] = OrderedDict()
        part = first_part
        if current is not None:
            current.msn = first_msn
            moved = []
            for p in current.parts:
                renumbered[part] = self.parts.get(p.number, b"")
                moved.append(Part(part, p.duration, p.independent))
                part += 1
            current.parts = moved
        self.parts = renumbered
        self.segments = [current] if current is not None else []
        self.next_msn = first_msn + (1 if current is not None else 0)
        self.next_part = part
        self._files_from = first_msn
        self.earlier, self.init_uri = continued.earlier, continued.init_uri
        self.discontinuity_sequence = continued.discontinuity_sequence
        self._notify()

    def finish(self) -> None:
        """FFmpeg's output ended: the segment being written is complete, and the playlist ends."""
        if self.segments and not self.segments[-1].complete and self.segments[-1].parts:
            self._complete(self.segments[-1])
        self.ended = True
        self._notify()

    def _notify(self) -> None:
        self.updated_at = time.time()
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, ready: Callable[[], bool], timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while not ready():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.ended:
                return ready()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    # --- output --------------------------------------------------------------------------------
    @property
    def changes(self) -> asyncio.Event:
        """Set at its next change (a part, a segment, a rebase, its end): what a held request waits on."""
        return self._changed

    def parts_per_segment(self) -> int:
        return max(1, math.ceil(self.settings.segment_seconds / self.settings.part_seconds))

    @property
    def has_media(self) -> bool:
        return self.init is not None and bool(self.segments)

    def blocking_timeout(self) -> float:
        return BLOCKING_TARGET_DURATIONS * target_duration(self.segments, self.settings.segment_seconds)

    def has(self, msn: int, part: int | None) -> bool:
        """The playlist lists segment `msn` (part `part`, or one after it) already."""
        if self.earlier and msn <= self.earlier[-1].number:
            # An earlier session's complete segment (a part of it: the segment has it all). Also
            # what a handover's successor answers, from the mirrored window, while the Services
            # send a player to either ingest: no 503 for a part only the predecessor listed.
            return True
        for s in reversed(self.segments):
            if s.msn < msn:
                break
            if s.msn > msn and (s.complete or s.parts):
                return True
            if s.msn == msn:
                if s.complete:
                    # Asked for a part past the last one of a complete segment: the next one's first
                    # part answers (RFC 8216bis §6.2.5.2).
                    return part is None or part < len(s.parts) or self.has(msn + 1, 0)
                return part is not None and part < len(s.parts)
        return False

    async def playlist(self, msn: int | None = None, part: int | None = None, skip: bool = False) -> str | None:
        """The playlist, once it has segment `msn` (part `part`) when asked for (blocking reload);
        None when it has not come within the blocking timeout (HTTP 503)."""
        if msn is not None:
            last = self.segments[-1].msn if self.segments else self.next_msn
            if self.segments and msn > last + 2:
                raise PlaylistRequestError(f"_HLS_msn={msn} is more than two segments ahead of {last}")
            if not await self._until(lambda: self.has(msn, part), self.blocking_timeout()):
                return None
        if not self.has_media and not self.earlier:
            return None
        complete = len([s for s in self.segments if s.complete])
        earlier = self.earlier[max(0, len(self.earlier) - max(0, self.settings.window_segments - complete)) :]
        return media_playlist(
            self.segments if self.has_media else [],
            segment_seconds=self.settings.segment_seconds,
            part_seconds=self.settings.part_seconds,
            next_part=None if self.ended or not self.has_media else self.next_part,
            ended=self.ended and self.settings.end_list_on_stop and not self.hold_end,
            skip=skip,
            earlier=earlier,
            init_uri=self.init_uri,
            discontinuity_sequence=self.discontinuity_sequence,
        )

    async def part(self, number: int) -> bytes | None:
        """A part's bytes; the next one (the preload hint) once FFmpeg has written it."""
        if number == self.next_part and not self.ended:
            await self._until(lambda: number in self.parts, self.blocking_timeout())
        return self.parts.get(number)
