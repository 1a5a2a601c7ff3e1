"""A viewer's first steps with an HLS URL: the media playlist (through a master playlist) and its
first segment. `get` is how to fetch (devtools.http_client.http_get, or one that opens its
sockets on the local cluster's LAN). And what a playlist answered to `?get_duration_sec=true`
lists: each segment's and part's duration_sec beside its own EXTINF or DURATION."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from devtools.http_client import http_get

Get = Callable[[str], tuple[int, bytes]]


def media_playlist(url: str, get: Get = http_get) -> tuple[str, list[str]]:
    """(media playlist URL, its segment URIs) from a master or media playlist URL; ("", []) if none yet."""
    status, body = get(url)
    if status != 200:
        return "", []
    text = body.decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if "#EXT-X-STREAM-INF" in text and lines:
        return media_playlist(url.rsplit("/", 1)[0] + "/" + lines[0], get)
    return url, lines


def first_segment(url: str, get: Get = http_get) -> tuple[str, bytes] | None:
    playlist, segments = media_playlist(url, get)
    if not segments:
        return None
    seg_url = playlist.rsplit("/", 1)[0] + "/" + segments[0]
    status, body = get(seg_url)
    return (seg_url, body) if status == 200 and body else None


_DURATION_ARGUMENT = re.compile(r"[?&]duration_sec=([^&]+)$")
_PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="([^"]+)"')


@dataclass(frozen=True)
class ListedDuration:
    uri: str  # as listed, duration_sec included
    duration: str  # the duration_sec value
    tag: float  # what EXTINF or the part's DURATION says


def listed_durations(text: str) -> tuple[list[ListedDuration], list[ListedDuration]]:
    """(segments, parts) a playlist lists, oldest first; every one must carry duration_sec
    (AssertionError naming the line that does not)."""
    segments, parts = [], []
    extinf: float | None = None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            extinf = float(line[8:].split(",")[0])
        elif line.startswith("#EXT-X-PART:"):
            m = _PART.match(line)
            value = _DURATION_ARGUMENT.search(m[2]) if m else None
            assert m and value, f"part without duration_sec: {line}"
            parts.append(ListedDuration(m[2], value[1], float(m[1])))
        elif line and not line.startswith("#"):
            value = _DURATION_ARGUMENT.search(line)
            assert extinf is not None and value, f"segment without duration_sec: {line}"
            segments.append(ListedDuration(line, value[1], extinf))
            extinf = None
    return segments, parts
