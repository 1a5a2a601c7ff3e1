"""Caps on what one ingest serves, so that viewers cannot take its event loop (and with it the
feed of the recorders and pushers) from them: on the internal face, concurrent feed readers per
source address and in all; on the public face, concurrent held requests per client address and in
all (blocking LL-HLS reloads, `_HLS_msn`; LL-HLS parts, the preload-hinted one held until written;
low-latency DASH segments, sent as they are written: held_requests.py), other playback
requests in flight in all, and the rate of requests per client address and in all (token buckets:
`RateBudget`). The public caps are sized for hundreds of players behind one address (a venue's NAT,
a carrier's CGNAT, kube-proxy's SNAT of a NodePort): what one address sends beyond that is no crowd
of viewers. The two faces have caps of their own: viewers at their cap never refuse a recorder. A
refusal is immediate and costs no more than reading the request: 503 when a total is full, 429 when
one address has its share, both with `Retry-After`, counted in
streamops_ingest_overload_refusals_total{reason}; one past the rate also closes its connection
(its next request pays a TCP handshake first). Probes are never capped (a refused liveness probe
would restart a busy Pod). Why and the numbers: docs/design/playback.md ("Viewer load and the
recorder").
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter

from streamops.contract.http import HEALTH_PATH, READY_PATH
from streamops.contract.metrics import OVERLOAD_REFUSAL_REASONS
from streamops.media.worker_metrics import counter

# A stream's feed readers: up to 50 pushers (the hosted platform's Restreams per stream), its
# recorders (one recording, one standby), a clip, a backup's uplink, the ingest's own screenshot and
# WHEP feeder (on loopback): 64 in all; past that is not a reader of ours. Per address the same: on
# a node with host networking every one of them comes from the node's address. (32 in all and 8 per
# address, issue 37's first caps, refused the 9th Restream on one node and the 33rd anywhere: 429
# and 503 in bench-media's 50-Restream row, found by issue 40's re-run.)
FEED_READERS_PER_SOURCE = 64
FEED_READERS_TOTAL = 64
# hls.js holds one blocking reload per playlist it plays (two with a separate audio rendition). Behind
# one address there may be hundreds of players (a venue's NAT, a carrier's CGNAT, kube-proxy's SNAT of
# a NodePort, an Ingress the playback gate does not trust): 300 per address. (Issue 37's 8 turned
# away 100 LL-HLS players on one LAN address: 25,115 of 53,282 playlist requests answered 429, issue
# 52.) 500 in all: the most LL-HLS viewers one ingest serves within 2 parts of lag on 2 cores is
# ≈ 200-400 (docs/design/playback.md).
BLOCKING_PER_CLIENT = 300
BLOCKING_TOTAL = 500
# Other public requests being handled at once (segments, parts, playlists, the page). A file request
# takes ≈ 1 ms of the loop: 256 in flight is ≈ 0.25 s of its work queued, past which a request waits
# longer than it is worth to its player and the loop's other duties wait with it.
PUBLIC_TOTAL = 256
# Requests a second (every public request but the probes and preflights), per client address and in
# all, each a token bucket holding one second of its rate. An LL-HLS player asks for ≈ 2 per part
# (a blocking reload and the part): ≈ 10 a second with 200 ms parts, 2-4 with parts of 0.33-1 s.
# 2,000 a second is 200 players at 200 ms parts from one address, 500 or more at 1 s; beyond it one
# address is no crowd of players. 5,000 in all: one ingest's loop took ≈ 4,000 a second at the most
# LL-HLS viewers it served (≈ 400 at 10 a second, 85 % of a core): more is the edge's job.
RATE_PER_CLIENT = 2000.0
RATE_TOTAL = 5000.0
# Client addresses whose buckets are kept (least recently seen dropped first): a bucket not seen for
# a second is full, as a new one is, so only addresses seen within the last second matter.
RATE_ADDRESSES = 20_000
# Refusals answered a second, in all, on connections the face refuses before aiohttp reads them
# (early_refusal.py, ≈ 30 µs each: 15 % of a core); past it such a connection is not read for a
# second (TCP holds its client back, at no cost here).
REFUSALS_TOTAL = 5000.0
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Limits:
    feed_per_source: int = FEED_READERS_PER_SOURCE
    feed_total: int = FEED_READERS_TOTAL
    blocking_per_client: int = BLOCKING_PER_CLIENT
    blocking_total: int = BLOCKING_TOTAL
    public_total: int = PUBLIC_TOTAL
    rate_per_client: float = RATE_PER_CLIENT
    rate_total: float = RATE_TOTAL


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


class TokenBucket:
    """`rate` tokens a second, at most `burst` held; a request takes one. Pure: the caller says when."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def give_back(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1)

    def ready(self, now: float) -> bool:
        """A token is there now (none taken)."""
        self._refill(now)
        return self.tokens >= 1

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class RateBudget:
    """Requests a second per key (a client address) and in all, each a TokenBucket holding one second
    of its rate. A key over its own budget takes nothing from the total, so one address's flood never
    refuses anyone else; at most `keys` buckets are kept (the least recently seen dropped first: a
    dropped key comes back with a full bucket, as one unseen for a second would have anyway)."""

    def __init__(
        self, per_key: float, total: float, clock: Callable[[], float] = time.monotonic, keys: int = RATE_ADDRESSES
    ) -> None:
        self.per_key, self.keys, self.clock = per_key, keys, clock
        self.total = TokenBucket(total, total, clock())
        self._buckets: dict[str, TokenBucket] = {}  # least recently seen first

    def take(self, key: str) -> str | None:
        """One request of `key` now; None when within both budgets, else which refused it: "key" or "total"."""
        now = self.clock()
        buckets = self._buckets
        bucket = buckets.pop(key, None)
        if bucket is None:
            bucket = TokenBucket(self.per_key, self.per_key, now)
            if len(buckets) >= self.keys:
                del buckets[next(iter(buckets))]
        buckets[key] = bucket  # to the end: the dict stays ordered by last request
        oldest = next(iter(buckets))
        if oldest != key and buckets[oldest].full(now):  # forgotten lazily, one per request
            del buckets[oldest]
        if not bucket.take(now):
            return "key"
        if not self.total.take(now):
            bucket.give_back()
            return "total"
        return None

    def spent(self, key: str) -> str | None:
        """Whether a request of `key` now would be refused ("key", "total"), taking nothing: a known key
        with no token, or the total with none."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is not None and not bucket.ready(now):
            return "key"
        return None if self.total.ready(now) else "total"

    def __len__(self) -> int:
        return len(self._buckets)


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoadCaps:
    """One ingest's caps and their refusal counts. The public face's (rate, blocking, public) are used
    on its loop only, the feed's on the worker's (public_thread.py): no state of theirs is shared but
    the metric (prometheus-client's are thread-safe)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        labels: Mapping[str, str],
        limits: Limits | None = None,
        client: Callable[[web.Request], str] = lambda request: request.remote or "",
        held: Callable[[web.Request], bool] = lambda request: False,
        clock: Callable[[], float] = time.monotonic,
        proxy: Callable[[str], bool] = lambda peer: False,
    ) -> None:
        """`client`: a viewer's address (the playback gate's: X-Forwarded-For from trusted proxies only);
        `held`: requests that may be held open like a blocking reload besides `_HLS_msn` ones (a
        low-latency DASH segment sent as it is written: dash_chunks.py); `proxy`: a peer address whose
        requests `client` reads X-Forwarded-For of (the gate's trusted proxies)."""
        self.client = client
        self.held = held
        self.proxy = proxy
        self.limits = limits = limits or Limits()
        self.feed = Slots(limits.feed_per_source, limits.feed_total)
        self.blocking = Slots(limits.blocking_per_client, limits.blocking_total)
        self.public = Slots(0, limits.public_total)
        self.rate = RateBudget(limits.rate_per_client, limits.rate_total, clock)
        # Children appear with their first refusal (the catalogue's always=False: no series at rest).
        self._family = counter("streamops_ingest_overload_refusals_total", "ingest", registry)
        self._labels = dict(labels)
        self._children: dict[str, Counter] = {}
        self.refused: Tally[str] = Tally()

    @property
    def answers(self) -> Mapping[str, tuple[int, bytes]]:
        """Each refusal's status and body, by reason."""
        return _REFUSALS

    def spent(self, peer: str) -> str | None:
        """Before a connection's request is read (early_refusal.py): the reason to refuse it when `peer`
        has spent its rate budget, or all have (nothing taken, nothing counted: `count` when it is
        answered). Never for a trusted proxy."""
        if self.proxy(peer) or (over := self.rate.spent(peer)) is None:
            return None
        return "rate_total_cap" if over == "total" else "rate_client_cap"

    def count(self, reason: str) -> None:
        """One refusal for `reason`, in the metric and `refused`."""
        self.refused[reason] += 1
        child = self._children.get(reason)
        if child is None:
            child = self._children[reason] = self._family.labels(**self._labels, reason=reason)
        child.inc()

    def _refuse(self, reason: str) -> web.Response:
        self.count(reason)
        status, body = _REFUSALS[reason]
        response = web.Response(status=status, body=body, headers=REFUSAL_HEADERS)
        if reason in _CLOSING:
            response.force_close()  # a flood's next request pays a TCP handshake first
        return response

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
        client = self.client(request)
        if (over := self.rate.take(client)) is not None:
            return self._refuse("rate_total_cap" if over == "total" else "rate_client_cap")
        if "_HLS_msn" in request.query or self.held(request):
            slots, key = self.blocking, client
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


# Built once: a refusal costs a dict lookup and the write (a flood is answered many thousand times a second).
_REFUSALS = {
    reason: (
        429 if reason.endswith(("source_cap", "client_cap")) else 503,
        f"this ingest is at its {reason.replace('_', ' ')}: retry later\n".encode(),
    )
    for reason in OVERLOAD_REFUSAL_REASONS
}
REFUSAL_HEADERS = {
    "Retry-After": str(RETRY_AFTER_SECONDS),
    "Cache-Control": "no-store",
    "Content-Type": "text/plain; charset=utf-8",
}
_CLOSING = frozenset({"rate_client_cap", "rate_total_cap"})


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
