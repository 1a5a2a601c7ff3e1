"""A media URL (a pull source, a restream target) through the egress guard: its host resolved once,
each address checked by the policy, and FFmpeg handed the checked address instead of the name, so a
name that answers 127.0.0.1 a moment later (DNS rebinding) is never connected to. Per protocol
(the table: docs/design/egress.md, "Media URLs"): rtmp(s), srt, rtsp(s) get the address in the URL,
and the name stays where the protocol carries it (the tcUrl of RTMP's `connect`: `rtmp_tcurl`; TLS's
SNI and certificate name: `verifyhost`); http(s) and HLS go through the worker's GuardProxy
(`-http_proxy`), which checks every request (redirects, playlists, segments on other hosts). FFmpeg
follows no RTMP or SRT redirect, and our FFmpeg's rtsp patch none to another origin. Pure but for
`pinned`, which resolves."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from streamops.contract.egress_policy import EgressPolicy, EgressRefused, IPAddress
from streamops.egress.resolution import Resolve, checked_addresses, ip_literal, system_resolve

# FFmpeg's defaults when a URL names no port (rtmpproto.c, rtsp.h, http.c); SRT has none.
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443, "rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
PINNED_SCHEMES = ("rtmp", "rtmps", "srt", "rtsp", "rtsps")
PROXIED_SCHEMES = ("http", "https")  # through the GuardProxy: every request checked, not just the first


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # lower case, without brackets
    port: int


def destination(url: str) -> Destination:
    """Where `url` connects first: EgressRefused for anything without a host and a usable port."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port past 65535 or not a number, a broken [IPv6]
        raise EgressRefused() from None
    scheme = parts.scheme.lower()
    port = port if port is not None else DEFAULT_PORTS.get(scheme)
    if scheme not in (*PINNED_SCHEMES, *PROXIED_SCHEMES) or not host or port is None or not 0 < port < 65536:
        raise EgressRefused()
    return Destination(scheme=scheme, host=host.rstrip(".") or host, port=port)


def static_refusal(url: str, policy: EgressPolicy) -> bool:
    """Whether `url` is refused before anything is resolved: no usable destination, or an address
    written in it that the policy refuses (what admission can say while the URL is only text)."""
    try:
        dest = destination(url)
    except EgressRefused:
        return True
    literal = ip_literal(dest.host)
    return literal is not None and policy.refuses(literal)


def rtmp_app(path: str) -> str:
    """The RTMP application FFmpeg 7.1 takes from a URL's path (and query): rtmpproto.c's rules, so
    that the tcUrl sent to a pinned address is the one it would have sent to the name."""
    query = path.find("?")
    if query >= 0 and "slist=" in path[query:]:
        return path[1:]
    if path.startswith("/ondemand/"):
        return "ondemand"
    rest = path[1:] if path else path
    slash = rest.find("/")
    if slash < 0:
        return rest
    after = rest[slash + 1 :]
    colon, second = after.find(":"), after.find("/")
    if second < 0 or 0 <= colon < second:
        return rest[:slash]
    return rest[: slash + 1 + second]


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class PinnedMedia:
    """What FFmpeg opens: the URL with the checked address as its host, and the options that keep
    what the name still decides (tcUrl, TLS's name)."""

    url: str
    options: dict[str, str] = field(default_factory=dict)


def pinned_to(url: str, address: IPAddress) -> PinnedMedia:
    """`url` (rtmp, rtmps, srt, rtsp, rtsps) with `address` as its host and the port written out."""
    dest = destination(url)
    if dest.scheme not in PINNED_SCHEMES:
        raise EgressRefused()
    parts = urlsplit(url)
    literal = ip_literal(dest.host)
    netloc = _authority(str(address), dest.port)
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    options: dict[str, str] = {}
    if literal is None:
        if dest.scheme in ("rtmp", "rtmps"):
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            options["rtmp_tcurl"] = f"{dest.scheme}://{_authority(dest.host, dest.port)}/{rtmp_app(path)}"
        if dest.scheme in ("rtmps", "rtsps"):
            options["verifyhost"] = dest.host
    return PinnedMedia(url=pinned, options=options)


async def pinned(url: str, policy: EgressPolicy, resolve: Resolve = system_resolve) -> PinnedMedia:
    """`url` pinned to the first address of its host the policy allows. EgressRefused when none is
    (or the URL has no usable destination), OSError when a public name does not resolve."""
    dest = destination(url)
    address = (await checked_addresses(dest.host, dest.port, policy, resolve))[0]
    return pinned_to(url, address)
