"""What a publisher's push URL asks of FFmpeg: the container for its scheme, and SRT's linger.
Standard library only: the clock source's generator process imports it (clock_generator)."""

from __future__ import annotations

from urllib.parse import urlsplit

FORMAT_BY_SCHEME = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts", "tcp": "mpegts"}

SRT_LINGER_SECONDS = 3


def with_srt_linger(url: str) -> str:
    """Live-mode SRT drops the unsent tail when the caller closes (linger 0): let it drain instead."""
    parts = urlsplit(url)
    if parts.scheme != "srt" or "linger=" in parts.query:
        return url
    return parts._replace(query=f"{parts.query}&linger={SRT_LINGER_SECONDS}".lstrip("&")).geturl()
