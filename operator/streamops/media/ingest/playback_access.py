"""Who may play, and who watches: the gate every playback route of the ingest goes through
(routes.py wraps each handler with `PlaybackGate.guard`). For a signed stream it checks the token
of the path (`/t/<token>/`, the route's `{token}`) against the mounted keys and answers the
contract's refusals (docs/design/playback.md); for every stream it counts the request
(streamops_playback_requests_total{kind,via}; kind: playlist, media or other) and, unless an edge
sent it, the viewer session.

Tokens never reach a log: the worker has no access log (worker_http.serve), and TokenPathFilter
masks a token path in any log line that would quote one.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter

from streamops.contract.ingest import EDGE_HEADER, IngestConfig
from streamops.contract.playback_token import (
    CURRENT_KEY,
    PREVIOUS_KEY,
    TOKEN_SEGMENT,
    client_address,
    is_trusted,
    trusted_networks,
    verify,
)
from streamops.media.ingest.playback_rules import REFUSED_HEADER, RuleRefusal, ViewerFacts
from streamops.media.ingest.viewer_rules import ViewerRules
from streamops.media.ingest.viewers import RequestKind, ViewerWindow, viewer_protocol
from streamops.media.ingest.webrtc.commands import serves_whep
from streamops.media.worker_metrics import counter, gauge

# The route segment a token path adds after the prefix: <prefix>/t/<token>/...
TOKEN_ROUTE = f"/{TOKEN_SEGMENT}/{{token}}"
# The key files are stat'ed again at most this often (two stat calls; kubelet swaps a mounted
# Secret's files within about a minute of a rotation).
KEYS_CHECK_SECONDS = 1.0
# Not the contract's table: the server itself cannot check any token (its keys are not mounted).
NO_KEYS_STATUS = 503
NO_KEYS_BODY = "playback of this stream is unavailable: this server has no playback signing keys"
NO_KEYS_REASON = "no_keys"
REFUSAL_HEADERS = {"Cache-Control": "no-store", "Content-Type": "text/plain; charset=utf-8"}

Guard = Callable[[RequestKind, Handler], Handler]


def no_guard(_: RequestKind, handler: Handler) -> Handler:
    return handler


class PlaybackKeys:
    """The verification keys (`current`, then `previous`) from the mounted Secret's directory, read
    again when a file changes (its inode, mtime or size: kubelet replaces the files by a symlink
    swap), checked at most every KEYS_CHECK_SECONDS. Never logs key material."""

    def __init__(self, directory: str, log: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self.dir, self.log, self.clock = Path(directory), log, clock
        self._keys: list[bytes] = []
        self._seen: tuple[tuple[int, int, int] | None, ...] | None = None
        self._checked_at = -KEYS_CHECK_SECONDS
        self.problem: str | None = None

    def keys(self) -> list[bytes]:
        now = self.clock()
        if now - self._checked_at >= KEYS_CHECK_SECONDS:
            self._checked_at = now
            seen = tuple(_identity(self.dir / name) for name in (CURRENT_KEY, PREVIOUS_KEY))
            if seen != self._seen:
                self._seen = seen
                self._load()
        return self._keys

    def _load(self) -> None:
        keys: list[bytes] = []
        for name in (CURRENT_KEY, PREVIOUS_KEY):
            try:
                key = (self.dir / name).read_bytes()  # raw bytes: a random key may end in a newline byte
            except OSError:
                continue
            if key:
                keys.append(key)
        problem = None
        if not keys:
            problem = f"no playback signing key in {self.dir} (files {CURRENT_KEY}, {PREVIOUS_KEY})"
        if problem and problem != self.problem:
            self.log.error("%s: every signed playback request is refused", problem)
        elif not problem:
            self.log.info("playback signing keys loaded from %s: %d key(s)", self.dir, len(keys))
        self.problem, self._keys = problem, keys


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def served_protocols(config: IngestConfig) -> list[str]:
    """The viewer protocols this ingest serves (a gauge child each, contract.metrics.VIEWER_PROTOCOLS):
    HLS always (an LL-HLS playlist's plain players count as hls), LL-HLS, DASH and WHEP as configured."""
    served = ["hls"] + (["llhls"] if config.hls.low_latency else []) + (["dash"] if config.dash else [])
    readers = config.readers
    srt = ["srt"] if readers and readers.srt else []
    rtsp = ["rtsp"] if readers and (readers.rtsp or readers.rtsps) else []
    return served + (["webrtc"] if serves_whep(config) else []) + srt + rtsp


def rule_refusal_response(refused: RuleRefusal) -> web.Response:
    """A rule's refusal: the rule (a fixed word, never the viewer's values) in X-Streamops-Refused."""
    response = refusal_response(refused.status, refused.body)
    response.headers[REFUSED_HEADER] = refused.reason
    return response


def refusal_response(status: int, body: str) -> web.Response:
    # CORS headers come from the app's on_response_prepare (worker_http), as on every media answer.
    return web.Response(status=status, text=body + "\n", headers=REFUSAL_HEADERS)


class PlaybackGate:
    """Checks tokens (a signed stream), counts requests and viewers; `guard(kind, handler)` is what
    routes.py registers for a playback path."""

    def __init__(
        self,
        config: IngestConfig,
        registry: CollectorRegistry,
        labels: dict[str, str],
        log: logging.Logger,
        webrtc_viewers: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.time,
        reader_viewers: Callable[[str], int] = lambda _: 0,
    ) -> None:
        """`reader_viewers(protocol)`: SRT callers and RTSP sessions now (media/ingest/readers.py)."""
        self.stream = config.stream_id
        self.signed = config.signed
        playback = config.playback
        self.keys = PlaybackKeys(playback.keys_dir, log) if self.signed and playback and playback.keys_dir else None
        if self.keys is not None:
            self.keys.keys()  # at start: a missing Secret is logged before the first viewer comes
        # A PlaybackPolicy's rules (docs/design/playback-rules.md), before the token: a refused viewer
        # learns nothing about its token.
        rules_file = playback.rules_file if playback else None
        self.rules = ViewerRules(rules_file, playback.geoip_file, log) if playback and rules_file else None
        self.viewers = ViewerWindow(config.viewer_window)
        self.trusted = trusted_networks(config.trusted_proxies or [])
        self.webrtc_viewers = webrtc_viewers
        self.clock = clock
        self.labels = labels
        self.m_requests = counter("streamops_playback_requests_total", "ingest", registry)
        self.m_refusals = counter("streamops_playback_refusals_total", "ingest", registry)
        # Children as they are first needed (a public stream refuses nothing), kept: a labels()
        # lookup per request costs a lock and a tuple.
        self._requests: dict[tuple[str, str], Counter] = {}
        self._refusals: dict[str, Counter] = {}
        viewers = gauge("streamops_viewers", "ingest", registry)
        for protocol in served_protocols(config):
            if protocol == "webrtc":
                viewers.labels(**labels, protocol=protocol).set_function(lambda: self.webrtc_viewers())
            elif protocol in ("srt", "rtsp"):
                viewers.labels(**labels, protocol=protocol).set_function(
                    lambda protocol=protocol: reader_viewers(protocol)  # type: ignore[misc]
                )
            else:
                viewers.labels(**labels, protocol=protocol).set_function(
                    lambda protocol=protocol: self.viewers.count(protocol)  # type: ignore[misc]
                )

    def _count_request(self, kind: RequestKind, via: str) -> None:
        key = (kind.metric_kind, via)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.m_requests.labels(**self.labels, kind=key[0], via=via)
        child.inc()

    def _count_refusal(self, reason: str) -> None:
        child = self._refusals.get(reason)
        if child is None:
            child = self._refusals[reason] = self.m_refusals.labels(**self.labels, reason=reason)
        child.inc()

    def refusal(self, request: web.Request) -> web.Response | None:
        """The answer refusing `request`, or None when it may be served."""
        if self.rules is not None:
            refused = self.rules.refusal(self.facts(request))
            if refused is not None:
                self._count_refusal(refused.reason)
                return rule_refusal_response(refused)
        if not self.signed or self.keys is None:
            return None
        token = request.match_info.get("token")
        keys = self.keys.keys()
        if token and not keys:
            self._count_refusal(NO_KEYS_REASON)
            return refusal_response(NO_KEYS_STATUS, NO_KEYS_BODY)
        why = verify(token, keys, self.stream, self.clock(), self.client(request))
        if why is None:
            return None
        self._count_refusal(why.reason)
        return refusal_response(why.status, why.body)

    def client(self, request: web.Request) -> str:
        """The viewer's address: X-Forwarded-For only from a trusted proxy (client_address). Every line
        of the header, in order, as one list (RFC 9110 5.3): a proxy that adds a line of its own
        (HAProxy's `option forwardfor`) comes last, after any line the client sent."""
        forwarded = ", ".join(request.headers.getall("X-Forwarded-For", ())) or None
        return client_address(forwarded, request.remote, self.trusted)

    def facts(self, request: web.Request) -> ViewerFacts:
        """What the rules look at. The host the viewer asked for is a trusted proxy's X-Forwarded-Host (the
        edge's origin requests name the ingest's Service in Host), else Host."""
        headers = request.headers
        host = headers.get("Host")
        forwarded_host = headers.getall("X-Forwarded-Host", ())
        if forwarded_host and request.remote and is_trusted(request.remote, self.trusted):
            host = forwarded_host[-1].rsplit(",", 1)[-1].strip()
        return ViewerFacts(
            address=self.client(request),
            host=host,
            origin=headers.get("Origin"),
            referer=headers.get("Referer"),
            user_agent=headers.get("User-Agent"),
        )

    def guard(self, kind: RequestKind, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            edge = EDGE_HEADER in request.headers
            self._count_request(kind, "edge" if edge else "direct")
            response = await handler(request)
            if not edge and 200 <= response.status < 300:
                self.saw(kind, request)
            return response

        return guarded

    def guard_by_name(self, kind_of: Callable[[str], RequestKind], handler: Handler) -> Handler:
        """`guard` for a route whose kind depends on the file asked for (match_info "name")."""
        guarded = {kind: self.guard(kind, handler) for kind in RequestKind}

        async def by_name(request: web.Request) -> web.StreamResponse:
            return await guarded[kind_of(request.match_info.get("name", ""))](request)

        return by_name

    def saw(self, kind: RequestKind, request: web.Request) -> None:
        protocol = viewer_protocol(kind, request.query)
        if protocol is None:
            return
        self.viewers.saw(protocol, request.query.get("_sid"), self.client(request), request.headers.get("User-Agent"))

    def viewers_document(self) -> dict[str, object]:
        """GET /viewers: the contract's JSON, for this stream."""
        window = self.viewers.window
        sessions = self.viewers.report(0).sessions
        return {
            "windowSeconds": int(window) if float(window).is_integer() else window,
            "streams": {self.stream: sessions.model_dump()},
        }


_TOKEN_IN_PATH = re.compile(rf"/{TOKEN_SEGMENT}/[^/\s?#\"']+/")


def mask_token_paths(text: str) -> str:
    """A path's token segment as `/t/***/`: for anything that might quote a request's path."""
    return _TOKEN_IN_PATH.sub(f"/{TOKEN_SEGMENT}/***/", text)


class TokenPathFilter(logging.Filter):
    """Masks token paths in every record a handler writes (aiohttp's messages quote a bad request's
    line; an exception's text may quote a path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if f"/{TOKEN_SEGMENT}/" in message:
            record.msg, record.args = mask_token_paths(message), None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if f"/{TOKEN_SEGMENT}/" in text:
                record.exc_text, record.exc_info = mask_token_paths(text), None
        return True


def install_token_path_filter() -> None:
    """On the root logger's handlers: records of every logger pass through them."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TokenPathFilter) for f in handler.filters):
            handler.addFilter(TokenPathFilter())
