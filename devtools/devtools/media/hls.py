"""A viewer's first steps with an HLS URL: the media playlist (through a master playlist) and its
first segment. `get` is how to fetch (devtools.http_client.http_get, or one that opens its
sockets on the local cluster's LAN)."""

from __future__ import annotations

from collections.abc import Callable

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
