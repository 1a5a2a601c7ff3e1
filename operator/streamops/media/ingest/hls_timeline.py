"""One served HLS media playlist's segments across sessions, pure: what a session's own playlist
lists (FFmpeg's, or the LL-HLS packager's complete segments) appended to the segments of the
sessions before it, renumbered so that numbers go on consecutively (never reset, never a gap),
with a discontinuity where a session starts and each session's init segment under a URI of its
own (init-<its first number>.mp4: never the same URI for another session's, a worker's restart
included, which a CDN caching init segments for good relies on). The served text is
served_playlist.py's; continuity.py keeps one Timeline per variant and rendition and feeds it.
Why: docs/design/handover.md (the data plane).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from streamops.contract.decimal_text import decimal

# Files of segments that left the window stay this many segments longer: a player that loaded the
# playlist just before still fetches them (as FFmpeg's hls_delete_threshold and the packager keep).
SEGMENTS_KEPT_BEYOND_WINDOW = 2
# A segment starting this little before the last served one ends still counts as after it
# (program date times are written to the millisecond, each session's from its own clock reading).
DATE_SLACK_SECONDS = 0.25
SEGMENT_PREFIX = "seg-"
INIT_PREFIX = "init-"


@dataclass(frozen=True)
class SourceSegment:
    """One segment as its session's own playlist lists it."""

    number: int  # the session's media sequence number (EXT-X-MEDIA-SEQUENCE + index)
    duration: float
    name: str  # its file in the session's playlist directory
    program_date_time: str | None = None
    first_part: int | None = None  # LL-HLS: its first part's number (a packager's segments only)


@dataclass(frozen=True)
class SourcePlaylist:
    segments: tuple[SourceSegment, ...] = ()
    init_name: str | None = None  # EXT-X-MAP's URI (fMP4)
    ended: bool = False


@dataclass(frozen=True)
class ServedSegment:
    number: int
    duration: float
    uri: str  # the served name: seg-<number><suffix>
    path: str  # where its bytes are (a session's directory, or what a successor mirrored)
    discontinuity: bool  # the first of a session that follows another
    discontinuity_sequence: int  # EXT-X-DISCONTINUITY-SEQUENCE were it the playlist's first
    program_date_time: str | None = None
    init_uri: str | None = None  # init-<n>.mp4: its session's init segment (fMP4)
    init_path: str | None = None
    first_part: int | None = None  # LL-HLS: its first part's number (its parts: its file's fragments)


@dataclass(frozen=True)
class Timeline:
    """`segments`: the window and the few kept beyond it (SEGMENTS_KEPT_BEYOND_WINDOW), oldest first.
    `source`: the session whose segments are appended now; `offset`: served number minus its
    number (None until its first segment); `last`: its newest number taken (or skipped: a session
    that goes on air with segments already written continues after them)."""

    window: int
    segments: tuple[ServedSegment, ...] = ()
    source: str | None = None
    offset: int | None = None
    last: int | None = None
    next_number: int | None = None  # the number the next segment gets; None before the first
    discontinuity_sequence: int = 0  # of the segments appended now
    init_uri: str | None = None  # the current source's (begin() may name it: an LL-HLS packager's)
    ended: bool = False  # the current source's playlist ended
    # A handover's successor lists nothing before the first segment its predecessor listed: the
    # segments before it are the predecessor's grace (kept, never listed again), which a larger
    # window here (a DVR edit) would list once more, taking the media sequence back (issue 56).
    first_listed: int | None = None

    @property
    def listed(self) -> tuple[ServedSegment, ...]:
        """The segments of the window (the served playlist's)."""
        listed = self.segments[-self.window :] if self.window else ()
        floor = self.first_listed
        return listed if floor is None else tuple(s for s in listed if s.number >= floor)

    def path_of(self, uri: str) -> str | None:
        for s in reversed(self.segments):
            if s.uri == uri:
                return s.path
            if s.init_uri == uri:
                return s.init_path
        return None


def parse_source(text: str, after: int | None = None) -> SourcePlaylist:
    """The segments of a media playlist FFmpeg's hls muxer wrote (or a predecessor served). ValueError
    for text that is not one (a playlist being replaced is renamed into place: never half-written).
    `after`: only the segments numbered above it are wanted: the head and the tail are read, not the
    whole window (a 4 h DVR of 2 s segments lists 7200, read again at every new segment)."""
    if after is not None:
        tail = _tail(text, after)
        if tail is not None:
            return tail
    return _parsed(text)


def _tail(text: str, after: int) -> SourcePlaylist | None:
    """parse_source(text, after), or None when the whole playlist is to be read anyway."""
    first_segment = min((i for i in (text.find("\n#EXTINF:"), text.find("\n#EXT-X-PROGRAM-DATE-TIME:")) if i >= 0),
                        default=len(text))  # fmt: skip
    head = _parsed(text[:first_segment])
    sequence = _sequence(text[:first_segment])
    total = text.count("\n#EXTINF:")
    wanted = sequence + total - 1 - after
    if wanted <= 0:
        return replace(head, ended=text.rstrip().endswith("#EXT-X-ENDLIST"))
    if wanted >= total:
        return None
    cut = len(text)
    for _ in range(wanted + 1):  # to the last segment not wanted
        cut = text.rfind("\n#EXTINF:", 0, cut)
    uri_end = cut + 1
    while text.startswith("#", uri_end):  # its tags (FFmpeg writes EXTINF, then the date), then its URI
        uri_end = text.find("\n", uri_end) + 1
    uri_end = text.find("\n", uri_end)
    rest = _parsed(f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:{sequence + total - wanted}\n{text[uri_end:]}")
    return replace(rest, init_name=head.init_name)


def _sequence(head: str) -> int:
    for line in head.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            return decimal(line.partition(":")[2].strip()) or 0
    return 0


def _parsed(text: str) -> SourcePlaylist:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not a playlist")
    sequence = 0
    duration: float | None = None
    date: str | None = None
    init: str | None = None
    ended = False
    segments: list[SourceSegment] = []
    for line in lines[1:]:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            number = decimal(line.partition(":")[2])
            if number is None:
                raise ValueError(f"bad media sequence: {line!r}")
            sequence = number
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].partition(",")[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = line.partition(":")[2]
        elif line.startswith("#EXT-X-MAP:"):
            init = _attribute(line, "URI")
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif not line.startswith("#"):
            if duration is None:
                raise ValueError(f"a segment without EXTINF: {line!r}")
            segments.append(SourceSegment(sequence + len(segments), duration, line, date))
            duration, date = None, None
    return SourcePlaylist(tuple(segments), init, ended)


def _attribute(line: str, name: str) -> str | None:
    marker = f'{name}="'
    start = line.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = line.find('"', start)
    return line[start:end] if end > start else None


def unseen_from(timeline: Timeline, written: Sequence[SourceSegment]) -> tuple[SourceSegment, ...]:
    """Of the segments a session going on air wrote before (while another was served), those the
    viewers had the time of already: each that begins before the last served segment ends (by
    their program date times; all of them without dates; none when nothing was served yet). The
    later ones are served: no gap."""
    if not timeline.segments:
        return ()
    last = timeline.segments[-1]
    end = _date(last.program_date_time)
    if end is None:
        return tuple(written)
    end += timedelta(seconds=last.duration - DATE_SLACK_SECONDS)
    seen = 0
    for s in written:
        start = _date(s.program_date_time)
        if start is not None and start >= end:
            break
        seen += 1
    return tuple(written[:seen])


def _date(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def begin(
    timeline: Timeline, source: str, already: Sequence[SourceSegment] = (), init_uri: str | None = None
) -> Timeline:
    """`source` goes on air: its segments are appended from now on, after `already` (what its
    playlist listed before: media the viewers did not get, so none of it is served late);
    `init_uri`: its init segment's served name, when known already (else init-<first number>.mp4)."""
    if timeline.source == source:
        return timeline
    last = already[-1].number if already else None
    return replace(timeline, source=source, offset=None, last=last, ended=False, init_uri=init_uri)


def extend(timeline: Timeline, source: str, directory: str, playlist: SourcePlaylist, suffix: str) -> Timeline:
    """The segments of `source`'s playlist (files in `directory`) not taken yet, appended. A source
    other than the current one begins first (begin()). Its first segment after another session's
    carries a discontinuity and a new init URI; numbers go on from the last served one."""
    timeline = begin(timeline, source)
    new = [s for s in playlist.segments if timeline.last is None or s.number > timeline.last]
    if not new and playlist.ended == timeline.ended:
        return timeline
    segments = list(timeline.segments)
    offset, number = timeline.offset, timeline.next_number
    sequence, init_uri = timeline.discontinuity_sequence, timeline.init_uri
    for s in new:
        first_of_source = offset is None
        if offset is None:
            offset = (s.number if number is None else number) - s.number
        if first_of_source and segments:
            sequence += 1
        if first_of_source and playlist.init_name is not None:
            init_uri = init_uri or f"{INIT_PREFIX}{s.number + offset}.mp4"
        served = s.number + offset
        follows = first_of_source and bool(segments)
        segments.append(
            ServedSegment(
                number=served,
                duration=s.duration,
                uri=f"{SEGMENT_PREFIX}{served}{suffix}",
                path=f"{directory}/{s.name}",
                discontinuity=follows,
                discontinuity_sequence=sequence,
                program_date_time=s.program_date_time,
                init_uri=init_uri,
                init_path=f"{directory}/{playlist.init_name}" if playlist.init_name else None,
                first_part=s.first_part,
            )
        )
        number = served + 1
    last = new[-1].number if new else timeline.last
    keep = timeline.window + SEGMENTS_KEPT_BEYOND_WINDOW
    return replace(
        timeline,
        segments=tuple(segments[-keep:]),
        offset=offset,
        last=last,
        next_number=number,
        discontinuity_sequence=sequence,
        init_uri=init_uri,
        ended=playlist.ended,
    )
