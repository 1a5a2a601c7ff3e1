"""The `?get_duration_sec=true` playlist modifier (the hosted API's, for CDN-log analytics): a media
playlist's segment and part URIs gain `duration_sec=<duration>`, a multivariant playlist's variant
URIs gain the modifier itself, so a player that follows them keeps it. Pure: text in, text out; the
routes call it for FFmpeg's playlists, the LL-HLS packager's and the multivariant one alike.

The duration is the playlist's own (EXTINF, a part's DURATION): the one number players and CDN logs
can be matched against. FFmpeg's hls muxer writes EXTINF as the distance between the pts of the
keyframe that starts a segment and the one that starts the next (hlsenc.c: `cur_duration`), the
packager as its parts' total; `tests/media/test_segment_durations.py` checks both against ffprobe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MODIFIER = "get_duration_sec"  # ?get_duration_sec=true on a playlist
DURATION_ARGUMENT = "duration_sec"  # what a segment or part URI gains

_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_PART_DURATION = re.compile(r"(?:^|,)DURATION=([^,]*)")
_URI_ATTRIBUTE = re.compile(r'(URI=")([^"]*)(")')
# Tags whose URI attribute names another playlist: it gets the modifier (RFC 8216bis §4.4.6.1, 4.4.6.3).
_PLAYLIST_URI_TAGS = ("#EXT-X-MEDIA:", "#EXT-X-I-FRAME-STREAM-INF:")


def wants_durations(query: Mapping[str, str]) -> bool:
    """Whether a playlist request asked for the modifier: `get_duration_sec=true`, as the hosted API
    documents it; any other value is ignored like an unknown argument."""
    return query.get(MODIFIER) == "true"


def duration_value(text: str) -> str | None:
    """A playlist duration as `duration_sec` carries it: an integer when whole ("2.000000" → "2"),
    else the decimal without trailing zeros ("1.966000" → "1.966"). Textual, so no float rounding
    adds or loses digits; None for anything that is not a plain decimal."""
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    whole, _, fraction = text.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def with_argument(uri: str, argument: str) -> str:
    """`uri` with one more query argument (`name=value`)."""
    return f"{uri}{'&' if '?' in uri else '?'}{argument}"


def with_durations(playlist: str) -> str:
    """The playlist answered to `?get_duration_sec=true`: every segment URI (the line after its
    EXTINF) and every EXT-X-PART URI with `duration_sec=`, every variant URI (the line after
    EXT-X-STREAM-INF, the URI of EXT-X-MEDIA and EXT-X-I-FRAME-STREAM-INF) with the modifier. The
    init segment (EXT-X-MAP) has no duration and a preload hint none yet: both stay as they are, as
    does everything else (tags, blank lines, the line endings)."""
    out: list[str] = []
    pending: str | None = None  # the argument the next URI line gets
    for line in playlist.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if body.startswith("#EXTINF:"):
            value = duration_value(body[len("#EXTINF:") :].split(",", 1)[0])
            pending = f"{DURATION_ARGUMENT}={value}" if value is not None else None
        elif body.startswith("#EXT-X-STREAM-INF:"):
            pending = f"{MODIFIER}=true"
        elif body.startswith("#EXT-X-PART:"):
            match = _PART_DURATION.search(body[len("#EXT-X-PART:") :])
            value = duration_value(match[1]) if match else None
            if value is not None:
                line = _with_uri_argument(line, f"{DURATION_ARGUMENT}={value}")
        elif body.startswith(_PLAYLIST_URI_TAGS):
            line = _with_uri_argument(line, f"{MODIFIER}=true")
        elif body and not body.startswith("#") and pending is not None:
            line = with_argument(body, pending) + line[len(body) :]
            pending = None
        elif body and not body.startswith("#"):
            pending = None
        out.append(line)
    return "".join(out)


def _with_uri_argument(line: str, argument: str) -> str:
    return _URI_ATTRIBUTE.sub(lambda m: m[1] + with_argument(m[2], argument) + m[3], line, count=1)
