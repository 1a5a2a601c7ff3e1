"""Pure: an HLS media playlist with EXT-X-PROGRAM-DATE-TIME read into wall-clock segments, and the
segments a clip's range needs. The ingest's FFmpeg writes a PROGRAM-DATE-TIME before every segment
(hls_flags program_date_time, media/ingest/commands.py); a segment without one starts where the
previous one ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin


@dataclass(frozen=True)
class SegmentKey:
    """An EXT-X-KEY with METHOD=AES-128 (an encrypted stream's: docs/design/protection.md)."""

    uri: str  # absolute, like the segments'
    iv: bytes | None  # None: the segment's media sequence number (RFC 8216bis §5.2)


@dataclass(frozen=True)
class Segment:
    uri: str  # absolute (resolved against the playlist's URL)
    start: datetime  # wall clock of its first frame
    duration: float  # seconds (EXTINF)
    discontinuity: bool = False  # an EXT-X-DISCONTINUITY precedes it
    # The EXT-X-MAP in force (CMAF): each session's own once the ingest serves its earlier sessions.
    init_uri: str | None = None
    key: SegmentKey | None = None  # the AES-128 key in force: its bytes are decrypted with it
    sequence: int = 0  # its media sequence number (the IV when the key names none)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)


@dataclass(frozen=True)
class MediaPlaylist:
    segments: tuple[Segment, ...]
    init_uri: str | None = None  # EXT-X-MAP (CMAF): prepended to the joined segments
    ended: bool = False  # EXT-X-ENDLIST: nothing more will come

    @property
    def window_start(self) -> datetime | None:
        return self.segments[0].start if self.segments else None

    @property
    def window_end(self) -> datetime | None:
        return self.segments[-1].end if self.segments else None


class PlaylistError(ValueError):
    """Not a media playlist the clipper can use (no PROGRAM-DATE-TIME, a multivariant playlist)."""


def _attribute(line: str, name: str) -> str | None:
    for part in line.split(":", 1)[1].split(","):
        key, _, value = part.partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return None


def _key(line: str, url: str) -> SegmentKey | None:
    """METHOD=NONE: clear from here on; AES-128: its key; any other method the clipper cannot read."""
    method = _attribute(line, "METHOD")
    if method == "NONE":
        return None
    uri, iv = _attribute(line, "URI"), _attribute(line, "IV")
    if method != "AES-128" or not uri:
        raise PlaylistError(f"segments encrypted with {method}: the clipper reads AES-128 only")
    return SegmentKey(urljoin(url, uri), bytes.fromhex(iv[2:]) if iv and iv.lower().startswith("0x") else None)


def parse_media_playlist(text: str, url: str) -> MediaPlaylist:
    """The playlist's segments with their wall-clock starts; URIs resolved against `url`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("not an HLS playlist (no #EXTM3U)")
    if any(line.startswith("#EXT-X-STREAM-INF") for line in lines):
        raise PlaylistError("a multivariant playlist, not a media playlist")
    segments: list[Segment] = []
    init_uri: str | None = None
    ended = False
    pending_date: datetime | None = None
    pending_duration: float | None = None
    discontinuity = False
    key: SegmentKey | None = None
    sequence = 0
    for line in lines:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-KEY:"):
            key = _key(line, url)
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pending_date = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00"))
        elif line.startswith("#EXTINF:"):
            pending_duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            discontinuity = True
        elif line.startswith("#EXT-X-MAP:"):
            uri = _attribute(line, "URI")
            init_uri = urljoin(url, uri) if uri else None
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif not line.startswith("#") and pending_duration is not None:
            if pending_date is None:
                if not segments:
                    raise PlaylistError("the playlist has no EXT-X-PROGRAM-DATE-TIME: its media has no wall clock")
                pending_date = segments[-1].end
            segment = Segment(
                urljoin(url, line), pending_date, pending_duration, discontinuity, init_uri, key, sequence
            )
            segments.append(segment)
            pending_date, pending_duration, discontinuity = None, None, False
            sequence += 1
    return MediaPlaylist(tuple(segments), init_uri, ended)


def covering(segments: tuple[Segment, ...] | list[Segment], start: datetime, end: datetime) -> list[Segment]:
    """The segments [start, end] needs: from the one holding `start` (segments begin with a keyframe,
    so its keyframe at or before `start` is in it) to the one holding `end`."""
    return [s for s in segments if s.end > start and s.start < end]


# PROGRAM-DATE-TIME is written to the millisecond and EXTINF durations are rounded: a start this
# little before the window's first segment still counts as inside it.
WINDOW_SLACK_SECONDS = 0.5


def start_outside_window(playlist: MediaPlaylist, start: datetime) -> bool:
    """The DVR no longer (or never) held `start`: its oldest segment begins after it."""
    first = playlist.window_start
    return first is None or (first - start).total_seconds() > WINDOW_SLACK_SECONDS


def holds_end(playlist: MediaPlaylist, end: datetime) -> bool:
    last = playlist.window_end
    return last is not None and last >= end - timedelta(seconds=WINDOW_SLACK_SECONDS / 10)
