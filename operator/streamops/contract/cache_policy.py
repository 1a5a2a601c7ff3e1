"""How long a shared cache (a CDN, the edge tier, a corporate proxy) and a browser may keep each kind of
playback response: the one table every playback answer's `Cache-Control` and `Surrogate-Control` come
from (docs/design/cdn.md). Pure: the kind of response, the stream's timing and whether its playback is
signed in, the headers out; the ingest sets them on every answer of its public face
(media/ingest/cache_headers.py), the edge passes them on with what it caches (its own refusals and 404s
say `no-store`).

Lifetimes follow what a name means over time:
- Segments (HLS fMP4/TS, LL-HLS) are numbered from the wall clock and written under their final name
  once complete: a name is never reused, so they are `immutable`.
- Parts (`part-N`), init segments and DASH's segments restart their numbering or keep their name with
  each session (a reconnect, a restarted ingest): kept only while a live viewer may ask for them.
- Playlists and the MPD change under the same name: at most half a target duration (Apple's rule for
  live playlists) — an LL-HLS playlist not at all (`no-cache`: revalidated; its players block on
  `_HLS_msn`/`_HLS_part`, whose answers are cacheable per query for the time a part stays listed).
- Errors: a 404 a second (negative caching that shields the origin without sticking), every other
  4xx/5xx and every refusal `no-store` (a refusal depends on the viewer's token and address).
- A signed stream's every answer is `private`: no shared cache keeps it, so a token never fragments a
  CDN's cache and no viewer is served what another viewer's token opened; the viewer's own browser
  may keep it as long as a public answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# A year: what `immutable` objects and versioned player assets get.
IMMUTABLE_SECONDS = 31_536_000
# Negative caching of a 404: long enough to absorb a burst of identical misses, short enough that a
# part or segment asked for a moment early is served once it exists.
NOT_FOUND_SECONDS = 1
# A broadcast's state document: a shared cache absorbs its viewers' polls (every 2 s each), and a
# change (the user's state, another stream on air) still reaches them within a poll or two.
BROADCAST_STATE_SECONDS = 1
# LL-HLS parts stay listed about three target durations: a blocking reload's answer and a part are
# kept that long (the edge's BLOCKING_TTL and PART_TTL: edge_store.lua).
LISTED_SEGMENTS = 3


class Kind(StrEnum):
    """What a playback response is, for its cache lifetime."""

    LIVE_PLAYLIST = "live_playlist"  # an HLS media or multivariant playlist without blocking arguments (DVR too)
    LL_PLAYLIST = "ll_playlist"  # the same of a low-latency stream (LL-HLS players block on the next one)
    BLOCKING_PLAYLIST = "blocking_playlist"  # an LL-HLS blocking reload (_HLS_msn, _HLS_part): cacheable per query
    ENDED_PLAYLIST = "ended_playlist"  # a live playlist with #EXT-X-ENDLIST: its name goes live again next session
    VOD_PLAYLIST = "vod_playlist"  # a finished recording's playlist: never changes
    MANIFEST = "manifest"  # the live DASH MPD
    SEGMENT = "segment"  # an HLS media segment: a name never reused
    PART = "part"  # an LL-HLS part: numbered again by a restarted packager
    INIT = "init"  # an init segment (HLS, LL-HLS, DASH): same name, maybe other codec settings, each session
    DASH_SEGMENT = "dash_segment"  # a DASH media segment: numbered again each session
    SCREENSHOT = "screenshot"  # the latest JPEG, replaced every screenshots.intervalSeconds
    PLAYER_PAGE = "player_page"  # rendered per request (it may carry TURN credentials)
    BROADCAST_STATE = "broadcast_state"  # a broadcast's state document: its pages poll it every 2 s
    PLAYER_ASSET = "player_asset"  # a script asked for without its version (?v=<hash>)
    VERSIONED_ASSET = "versioned_asset"  # a script asked for with its current version
    KEY = "key"  # an encrypted stream's content key (<prefix>/key/<id>): the viewer's, behind the gate
    PER_VIEWER = "per_viewer"  # the clock, WHEP/WHIP signalling, the publish page, preflights, redirects
    NOT_FOUND = "not_found"  # 404
    REFUSAL = "refusal"  # 401/403 of the playback gate, 503 without keys, 429/503 of the load caps
    ERROR = "error"  # any other 4xx or 5xx (400 of a bad _HLS_msn, 503 "no such playlist yet", 409)


@dataclass(frozen=True)
class Timing:
    """The stream's clock: `segment_seconds` (hls.segmentSeconds, the target duration),
    `screenshot_seconds` (screenshots.intervalSeconds)."""

    segment_seconds: float = 2.0
    screenshot_seconds: float = 10.0

    @property
    def live_playlist_seconds(self) -> int:
        """Half a target duration, at least a second (Cache-Control counts whole seconds)."""
        return max(1, math.floor(self.segment_seconds / 2))

    @property
    def listed_seconds(self) -> int:
        """How long a part or a segment stays near the live edge: three target durations."""
        return max(1, math.ceil(LISTED_SEGMENTS * self.segment_seconds))


# Kinds that no cache may keep at all, for anyone.
_NO_STORE = frozenset({Kind.KEY, Kind.PER_VIEWER, Kind.REFUSAL, Kind.ERROR})


def max_age(kind: Kind, timing: Timing) -> int | None:
    """Seconds a cache may serve `kind` without asking the origin; 0: store but revalidate each time
    (`no-cache`); None: never store (`no-store`)."""
    if kind in _NO_STORE:
        return None
    ages = {
        Kind.LIVE_PLAYLIST: timing.live_playlist_seconds,
        Kind.MANIFEST: timing.live_playlist_seconds,
        Kind.LL_PLAYLIST: 0,
        Kind.BLOCKING_PLAYLIST: timing.listed_seconds,
        Kind.ENDED_PLAYLIST: max(1, math.ceil(timing.segment_seconds)),
        Kind.VOD_PLAYLIST: IMMUTABLE_SECONDS,
        Kind.SEGMENT: IMMUTABLE_SECONDS,
        Kind.PART: timing.listed_seconds,
        Kind.INIT: max(1, math.ceil(timing.segment_seconds)),
        Kind.DASH_SEGMENT: timing.listed_seconds,
        Kind.SCREENSHOT: max(1, math.floor(timing.screenshot_seconds / 2)),
        Kind.PLAYER_PAGE: 0,
        Kind.BROADCAST_STATE: BROADCAST_STATE_SECONDS,
        Kind.PLAYER_ASSET: 0,
        Kind.VERSIONED_ASSET: IMMUTABLE_SECONDS,
        Kind.NOT_FOUND: NOT_FOUND_SECONDS,
    }
    return ages[kind]


# Kinds whose name never comes back with other bytes.
_IMMUTABLE = frozenset({Kind.SEGMENT, Kind.VOD_PLAYLIST, Kind.VERSIONED_ASSET})
# Kinds that are per viewer even on a public stream (the page may carry a TURN credential).
_PRIVATE = frozenset({Kind.PLAYER_PAGE})


def cache_headers(kind: Kind, timing: Timing, *, signed: bool = False) -> dict[str, str]:
    """`Cache-Control` for browsers and shared caches, `Surrogate-Control` for CDNs that read it (it
    overrides Cache-Control there and is not passed on to viewers). `signed`: the stream's playback
    needs a token: nothing is shared-cacheable."""
    age = max_age(kind, timing)
    if kind is Kind.KEY:  # private too: no cache of any kind, the browser's included (protection.md)
        return {"Cache-Control": "private, no-store", "Surrogate-Control": "no-store"}
    if age is None:
        return {"Cache-Control": "no-store", "Surrogate-Control": "no-store"}
    scope = "private" if signed or kind in _PRIVATE else "public"
    directive = "no-cache" if age == 0 else f"max-age={age}"
    cache_control = f"{scope}, {directive}" + (", immutable" if kind in _IMMUTABLE else "")
    surrogate = "no-store" if scope == "private" else directive
    return {"Cache-Control": cache_control, "Surrogate-Control": surrogate}
