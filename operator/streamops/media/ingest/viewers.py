"""Viewer sessions of the ingest's own stream (docs/design/playback.md, "Viewer sessions"): a session
(`_sid`, else client address + User-Agent) counts as a viewer of a protocol while it made a
successful media request of that protocol within the window. LL-HLS wins over HLS for a session
that did both in the window (an LL-HLS player fetches whole segments and the init too).

Cheap per request: one dict update (the entry moves to the dict's end, so the dict stays ordered by
last request), and expired entries are dropped from its front lazily.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from enum import Enum

from streamops.contract.ingest import VIEWER_SESSIONS_LISTED, IngestViewers, ViewerCounts, ViewerSessionHashes
from streamops.contract.playback_token import session_hash, session_id

# A client inventing a new `_sid` per request must not grow the table without bound: past this many
# live entries the oldest go first (≈150 bytes an entry: 15 MB at most).
MAX_SESSIONS = 100_000


class RequestKind(Enum):
    """What a playback request fetched (its `metric_kind` is the label of
    streamops_playback_requests_total)."""

    PLAYLIST = "playlist"
    PART = "part"
    SEGMENT = "segment"
    INIT = "init"
    MANIFEST = "manifest"  # DASH's
    DASH = "dash"  # DASH's init and media segments
    OTHER = "other"  # the player page, its assets, the screenshot, the clock, WHEP

    @property
    def metric_kind(self) -> str:
        """playlist, media or other (contract.metrics.REQUEST_KINDS): few values, few series."""
        if self in (RequestKind.PLAYLIST, RequestKind.MANIFEST):
            return "playlist"
        return "other" if self is RequestKind.OTHER else "media"


HLS_KINDS = frozenset((RequestKind.PLAYLIST, RequestKind.PART, RequestKind.SEGMENT, RequestKind.INIT))
DASH_KINDS = frozenset((RequestKind.MANIFEST, RequestKind.DASH))
LL_HLS_QUERY = ("_HLS_msn", "_HLS_part")


def viewer_protocol(kind: RequestKind, query: Mapping[str, str]) -> str | None:
    """The protocol a media request counts a viewer for: llhls, hls, dash; None for other requests."""
    if kind in DASH_KINDS:
        return "dash"
    if kind not in HLS_KINDS:
        return None
    if kind is RequestKind.PART or any(key in query for key in LL_HLS_QUERY):
        return "llhls"
    return "hls"


class ViewerWindow:
    """The sessions seen in the last `window` seconds, per protocol."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.clock = window, clock
        self._seen: dict[tuple[str, str], float] = {}  # (protocol, session hash) -> last request, oldest first
        # Low-latency DASH segments are counted on the public face's loop, the rest on the worker's
        # (public_thread.py): the dict is changed and read under this.
        self._lock = threading.Lock()

    def saw(self, protocol: str, sid: str | None, client: str, user_agent: str | None) -> None:
        """A successful media request of `protocol` by the session (`_sid`, or client + User-Agent)."""
        key = (protocol, session_hash(session_id(sid, client, user_agent)))
        with self._lock:
            self._saw(key)

    def _saw(self, key: tuple[str, str]) -> None:
        seen = self._seen
        seen.pop(key, None)  # re-inserted at the end: the dict stays ordered by last request
        now = self.clock()
        seen[key] = now
        if len(seen) > MAX_SESSIONS:
            del seen[next(iter(seen))]
        self._expire(now)

    def _expire(self, now: float) -> None:
        seen, oldest = self._seen, now - self.window
        while seen:
            key = next(iter(seen))
            if seen[key] > oldest:
                return
            del seen[key]

    def sessions(self) -> dict[str, list[str]]:
        """Session hashes by protocol (hls, llhls, dash), a session of both HLS kinds under llhls only."""
        by: dict[str, list[str]] = {"hls": [], "llhls": [], "dash": []}
        with self._lock:
            self._expire(self.clock())
            for protocol, hashed in self._seen:
                by[protocol].append(hashed)
        if by["hls"] and by["llhls"]:
            low = set(by["llhls"])
            by["hls"] = [h for h in by["hls"] if h not in low]
        return by

    def count(self, protocol: str) -> int:
        return len(self.sessions()[protocol])

    def report(self, webrtc: int) -> IngestViewers:
        """IngestStatus.viewers: counts, and the hashes (the newest first, VIEWER_SESSIONS_LISTED at most each)."""
        by = self.sessions()
        listed = {p: hashes[::-1][:VIEWER_SESSIONS_LISTED] for p, hashes in by.items()}
        return IngestViewers(
            window_seconds=self.window,
            counts=ViewerCounts(hls=len(by["hls"]), llhls=len(by["llhls"]), dash=len(by["dash"]), webrtc=webrtc),
            sessions=ViewerSessionHashes(**listed),
            truncated=any(len(hashes) > VIEWER_SESSIONS_LISTED for hashes in by.values()),
        )
