"""A light HLS client for bench/density.py: polls media playlists once a second (all of them from one
thread, in a network namespace when asked: the LAN's, like a viewer's machine) and says, per playlist,
whether its output kept up over a window — the speed at which media seconds appear against the wall
clock, and the segments it missed.

Speed is the slope of a least-squares line through (when a segment was first seen, the media seconds
up to its end): a segment is seen up to one poll after it was written, and the line spreads that
error over every segment of the window (±0.5 s at a single end would be ±0.8 % of a 60 s window).
Missed: a media sequence number never seen between the window's first and last (it slid out of the
playlist between two polls, or the numbering jumped), a discontinuity (a session restarted), or a
segment longer than 1.5 × the target duration (the output stalled inside it).
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from devtools import netns

POLL_SECONDS = 1.0
LONG_SEGMENT = 1.5  # × the target duration: a segment this long says the output stalled within it


@dataclass
class Segment:
    duration: float
    seen_at: float  # monotonic: the first poll that listed it
    discontinuity: bool


@dataclass
class Playlist:
    """A parsed media playlist: the target duration and its segments by media sequence number."""

    target: float
    segments: dict[int, tuple[float, bool]]  # sequence -> (duration, after a discontinuity)


def parse(text: str) -> Playlist | None:
    if not text.startswith("#EXTM3U"):
        return None
    target, sequence, duration, discontinuity = 0.0, 0, None, False
    segments: dict[int, tuple[float, bool]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            discontinuity = True
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments[sequence] = (duration, discontinuity)
            sequence, duration, discontinuity = sequence + 1, None, False
    return Playlist(target, segments)


@dataclass
class Verdict:
    speed: float  # media seconds per wall second; nan with fewer than 3 segments seen in the window
    segments: int  # new in the window
    missed: int
    errors: int  # polls that got no playlist


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 3:
        return float("nan")
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


def verdict(segments: dict[int, Segment], target: float, since: float, until: float, errors: int) -> Verdict:
    """The window [since, until]: the segments first seen in it (a segment listed at the first poll has
    no known appearance time and is left out)."""
    new = {seq: s for seq, s in segments.items() if since < s.seen_at <= until}
    if not new:
        return Verdict(float("nan"), 0, 0, errors)
    first, last = min(new), max(new)
    gaps = sum(1 for seq in range(first, last + 1) if seq not in new)
    restarts = sum(1 for s in new.values() if s.discontinuity)
    long = sum(1 for s in new.values() if target and s.duration > LONG_SEGMENT * target)
    media, points = 0.0, []
    for seq in range(first, last + 1):
        if seq in new:
            media += new[seq].duration
            points.append((new[seq].seen_at, media))
    return Verdict(slope(points), len(new), gaps + restarts + long, errors)


@dataclass
class Watch:
    """Playlists by name, polled from a thread until stop()."""

    urls: dict[str, str]
    netns: str | None = None
    seen: dict[str, dict[int, Segment]] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    errors: dict[str, list[float]] = field(default_factory=dict)  # when a poll got no playlist
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    # one kept-alive connection per playlist: a new connection and urllib's machinery per poll cost the
    # machine whose capacity is measured several times more CPU
    _connections: dict[str, http.client.HTTPConnection] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # the polling thread's own CPU so far

    def start(self) -> Watch:
        self._thread = threading.Thread(target=self._run, name="hls-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def set_urls(self, urls: dict[str, str]) -> None:
        with self._lock:
            self.urls = dict(urls)

    def _run(self) -> None:
        with netns.entered(self.netns) if self.netns else contextlib.nullcontext():
            while not self._stop.is_set():
                began = time.monotonic()
                with self._lock:
                    urls = dict(self.urls)
                for name, url in urls.items():
                    self._poll(name, url)
                self.cpu_seconds = time.thread_time()
                self._stop.wait(max(0.0, POLL_SECONDS - (time.monotonic() - began)))
        for connection in self._connections.values():
            connection.close()

    def _get(self, name: str, url: str) -> bytes | None:
        parts = urlsplit(url)
        connection = self._connections.get(name)
        if connection is None:
            connection = self._connections[name] = http.client.HTTPConnection(parts.netloc, timeout=3)
        try:
            connection.request("GET", parts.path)
            response = connection.getresponse()
            body = response.read()
            return body if response.status == 200 else None
        except (OSError, http.client.HTTPException):
            connection.close()
            del self._connections[name]
            return None

    def _poll(self, name: str, url: str) -> None:
        body = self._get(name, url)
        now = time.monotonic()
        playlist = parse(body.decode(errors="replace")) if body is not None else None
        with self._lock:
            if playlist is None:
                self.errors.setdefault(name, []).append(now)
                return
            first = name not in self.seen  # what the first playlist lists was written before: left out
            self.targets[name] = playlist.target
            seen = self.seen.setdefault(name, {})
            for seq, (duration, discontinuity) in playlist.segments.items():
                if seq not in seen:
                    seen[seq] = Segment(duration, 0.0 if first else now, discontinuity)

    def verdicts(self, since: float, until: float) -> dict[str, Verdict]:
        with self._lock:
            return {
                name: verdict(
                    self.seen.get(name, {}),
                    self.targets.get(name, 0.0),
                    since,
                    until,
                    sum(1 for t in self.errors.get(name, []) if since < t <= until),
                )
                for name in self.urls
            }


@contextlib.contextmanager
def watching(urls: dict[str, str], namespace: str | None = None) -> Iterator[Watch]:
    watch = Watch(urls, namespace).start()
    try:
        yield watch
    finally:
        watch.stop()
