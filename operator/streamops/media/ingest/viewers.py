"""Viewer sessions of the ingest's own stream (docs/design/playback.md, "Viewer sessions"): a session
(`_sid`, else client address + User-Agent) counts as a viewer of a protocol while it made a
successful media request of that protocol within the window. LL-HLS wins over HLS for a session
that did both in the window (an LL-HLS player fetches whole segments and the init too).

Cheap per request: one dict update (the entry moves to the dict's end, so the dict stays ordered by
last request), and expired entries are dropped from its front lazily.

A `_sid` is the client's own choice, so one client could count as any number of viewers (issue 52,
finding 10): at most SESSIONS_PER_SOURCE sessions per protocol count per client address (an IPv6
client: its /64) at once; a session past that is not counted until one of that address's leaves.
The edge counts by the same rule (edge_stats.lua).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from enum import Enum

from streamops.contract.ingest import VIEWER_SESSIONS_LISTED, IngestViewers, ViewerCounts, ViewerSessionHashes
from streamops.contract.playback_token import session_hash, session_id

# A client inventing a new `_sid` per request must not grow the table without bound: past this many
# live entries the oldest go first (≈150 bytes an entry: 15 MB at most).
MAX_SESSIONS = 100_000
# Viewers one address stands for at most, per protocol: a venue's or a carrier's NAT with a crowd
# watching one stream (docs/design/playback.md, "Viewer sessions"). Past it the count understates
# that crowd rather than believe a client's invented session ids. edge_stats.lua: the same number.
SESSIONS_PER_SOURCE = 256


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


def viewer_source(client: str) -> str:
    """What SESSIONS_PER_SOURCE is counted per: the client's address, an IPv6 one's /64 (one host
    commonly has a whole /64), an IPv4-mapped one as IPv4."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


class ViewerWindow:
    """The sessions seen in the last `window` seconds, per protocol, `per_source` at most per
    protocol and client address."""

    def __init__(
        self, window: float, clock: Callable[[], float] = time.monotonic, per_source: int = SESSIONS_PER_SOURCE
    ) -> None:
        self.window, self.clock, self.per_source = window, clock, per_source
        # (protocol, session hash) -> (last request, source), oldest first
        self._seen: dict[tuple[str, str], tuple[float, str]] = {}
        self._sources: Tally[tuple[str, str]] = Tally()  # (protocol, source) -> its sessions in _seen
        # Low-latency DASH segments are counted on the public face's loop, the rest on the worker's
        # (public_thread.py): the dict is changed and read under this.
        self._lock = threading.Lock()

    def saw(self, protocol: str, sid: str | None, client: str, user_agent: str | None) -> None:
        """A successful media request of `protocol` by the session (`_sid`, or client + User-Agent)."""
        key = (protocol, session_hash(session_id(sid, client, user_agent)))
        with self._lock:
            self._saw(key, client)

    def _saw(self, key: tuple[str, str], client: str) -> None:
        seen = self._seen
        now = self.clock()
        self._expire(now)
        known = seen.pop(key, None)  # re-inserted at the end: the dict stays ordered by last request
        if known is not None:
            source = known[1]
        else:
            source = viewer_source(client)
            if self._sources[key[0], source] >= self.per_source:
                return  # not counted while that address has its share
            self._sources[key[0], source] += 1
        seen[key] = (now, source)
        if len(seen) > MAX_SESSIONS:
            self._drop(next(iter(seen)))

    def _drop(self, key: tuple[str, str]) -> None:
        _, source = self._seen.pop(key)
        counted = (key[0], source)
        self._sources[counted] -= 1
        if self._sources[counted] <= 0:
            del self._sources[counted]

    def _expire(self, now: float) -> None:
        seen, oldest = self._seen, now - self.window
        while seen:
            key = next(iter(seen))
            if seen[key][0] > oldest:
                return
            self._drop(key)

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
