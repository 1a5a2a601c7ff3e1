"""Caps on what one ingest serves at once, so that viewers cannot take its event loop (and with it
FFmpeg's output pipes) from the recorders and pushers: on the internal face, concurrent feed readers
per source address and in all; on the public face, concurrent blocking LL-HLS reloads
(`_HLS_msn`) and low-latency DASH segments (sent as they are written) per client address and in
all, and other playback requests in all. The two faces have
caps of their own: viewers at their cap never refuse a recorder. A refusal is immediate: 503 when
a total is full, 429 when one address has its share, both with `Retry-After`, counted in
streamops_ingest_overload_refusals_total{reason}. Probes are never capped (a refused liveness
probe would restart a busy Pod). Why and the numbers: docs/design/playback.md ("Viewer load and
the recorder").
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry

from streamops.contract.http import HEALTH_PATH, READY_PATH
from streamops.media.worker_metrics import counter

# A stream's feed readers: up to 50 pushers (the hosted platform's Restreams per stream), its
# recorders (one recording, one standby), a clip, a backup's uplink, the ingest's own screenshot and
# WHEP feeder (on loopback): 64 in all; past that is not a reader of ours. Per address the same: on
# a node with host networking every one of them comes from the node's address. (32 in all and 8 per
# address, issue 37's first caps, refused the 9th Restream on one node and the 33rd anywhere: 429
# and 503 in bench-media's 50-Restream row, found by issue 40's re-run.)
FEED_READERS_PER_SOURCE = 64
FEED_READERS_TOTAL = 64
# hls.js holds one blocking reload per playlist it plays (two with a separate audio rendition); 8 per
# address leaves a household behind one NAT its players. 500 in all: the most LL-HLS viewers one
# ingest serves within 2 parts of lag on 2 cores is ≈ 200-400 (docs/design/playback.md).
BLOCKING_PER_CLIENT = 8
BLOCKING_TOTAL = 500
# Other public requests being handled at once (segments, parts, playlists, the page). A file request
# takes ≈ 1 ms of the loop: 256 in flight is ≈ 0.25 s of its work queued, past which a request waits
# longer than it is worth to its player and the loop's other duties wait with it.
PUBLIC_TOTAL = 256
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Limits:
    feed_per_source: int = FEED_READERS_PER_SOURCE
    feed_total: int = FEED_READERS_TOTAL
    blocking_per_client: int = BLOCKING_PER_CLIENT
    blocking_total: int = BLOCKING_TOTAL
    public_total: int = PUBLIC_TOTAL


class Slots:
    """Concurrent holders, at most `per_key` per key and `total` in all (`per_key` 0: no per-key cap)."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key, self.total = per_key, total
        self.held = 0
        self._by_key: Tally[str] = Tally()

    def take(self, key: str) -> str | None:
        """Take one for `key`; None when taken, else which cap refused it: "total" or "key"."""
        if self.held >= self.total:
            return "total"
        if self.per_key and self._by_key[key] >= self.per_key:
            return "key"
        self.held += 1
        self._by_key[key] += 1
        return None

    def give(self, key: str) -> None:
        self.held -= 1
        self._by_key[key] -= 1
        if self._by_key[key] <= 0:
            del self._by_key[key]

    def of(self, key: str) -> int:
        return self._by_key[key]


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoadCaps:
    """One ingest's caps and their refusal counts (one loop: no locking)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        labels: Mapping[str, str],
        limits: Limits | None = None,
        client: Callable[[web.Request], str] = lambda request: request.remote or "",
        held: Callable[[web.Request], bool] = lambda request: False,
    ) -> None:
        """`client`: a viewer's address (the playback gate's: X-Forwarded-For from trusted proxies only);
        `held`: requests that may be held open like a blocking reload besides `_HLS_msn` ones (a
        low-latency DASH segment sent as it is written: dash_chunks.py)."""
        self.client = client
        self.held = held
        self.limits = limits = limits or Limits()
        self.feed = Slots(limits.feed_per_source, limits.feed_total)
        self.blocking = Slots(limits.blocking_per_client, limits.blocking_total)
        self.public = Slots(0, limits.public_total)
        # Children appear with their first refusal (the catalogue's always=False: no series at rest).
        self._family = counter("streamops_ingest_overload_refusals_total", "ingest", registry)
        self._labels = dict(labels)
        self.refused: Tally[str] = Tally()

    def _refuse(self, reason: str) -> web.Response:
        self.refused[reason] += 1
        self._family.labels(**self._labels, reason=reason).inc()
        status = 429 if reason.endswith(("source_cap", "client_cap")) else 503
        return web.Response(
            status=status,
            text=f"this ingest is at its {reason.replace('_', ' ')}: retry later\n",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        )

    @contextlib.contextmanager
    def feed_reader(self, request: web.Request) -> Iterator[None]:
        """Hold a feed reader's slot while its response lasts; raises Refused when capped. The source
        is the peer address: the internal face has no proxy in front."""
        source = request.remote or ""
        if (cap := self.feed.take(source)) is not None:
            raise Refused("feed_total_cap" if cap == "total" else "feed_source_cap")
        try:
            yield
        finally:
            self.feed.give(source)

    def refusal(self, error: Refused) -> web.Response:
        return self._refuse(error.reason)

    @web.middleware
    async def public_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The public face's caps: a blocking reload holds a slot of its own (it waits for a part,
        costing no work meanwhile); any other request one of the public total."""
        if request.path in (HEALTH_PATH, READY_PATH) or request.method == "OPTIONS":
            return await handler(request)
        if "_HLS_msn" in request.query or self.held(request):
            slots, key = self.blocking, self.client(request)
            reasons = ("blocking_total_cap", "blocking_client_cap")
        else:
            slots, key, reasons = self.public, "", ("public_total_cap", "public_total_cap")
        if (cap := slots.take(key)) is not None:
            return self._refuse(reasons[0] if cap == "total" else reasons[1])
        handed = False
        try:
            response = await handler(request)
            if isinstance(response, HeldFileResponse):
                # aiohttp sends a file after the handler returned (FileResponse.prepare): the slot
                # is held until then, else the cap would not count the work it exists to bound.
                response.release, handed = lambda: slots.give(key), True
            return response
        finally:
            if not handed:
                slots.give(key)


class HeldFileResponse(web.FileResponse):
    """A FileResponse that calls `release` once it has been sent (or failed to be)."""

    release: Callable[[], None] | None = None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            return await super().prepare(request)
        finally:
            if self.release is not None:
                release, self.release = self.release, None
                release()
