"""Playback rules (a PlaybackPolicy's: docs/design/playback-rules.md), decided per request: `decide`
is pure — compiled rules and the request's facts in, None or the refusal out — and the edge's Lua
(edge_rules.lua) decides the same table (tests/unit/media/ingest/test_playback_rules.py).

Order, the first rule a request fails being the reason: the address (deniedCIDRs, then
allowedCIDRs), the country, the referrer (Origin, else Referer), the user agent. Reasons are a
fixed set (metric label, X-Streamops-Refused): never the token, never the viewer's values.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from streamops.api.playback_policy import PlaybackRules
from streamops.contract.metrics import RULE_REFUSAL_REASONS

REFUSED_HEADER = "X-Streamops-Refused"
# The last two are not a viewer's fault: the rules name countries and this server has no GeoIP
# database, or the rules file of a stream that has rules cannot be read. Refused (fail closed), 503.
ADDRESS, COUNTRY, REFERRER, USER_AGENT, GEOIP_UNAVAILABLE, RULES_UNAVAILABLE = RULE_REFUSAL_REASONS
BODIES = {
    ADDRESS: "playback of this stream is not allowed from your network address",
    COUNTRY: "playback of this stream is not allowed in your country",
    REFERRER: "playback of this stream is not allowed on this site",
    USER_AGENT: "playback of this stream is not allowed in this player",
    GEOIP_UNAVAILABLE: "playback of this stream is unavailable: this server has no GeoIP database for its rules",
    RULES_UNAVAILABLE: "playback of this stream is unavailable: this server cannot read its playback rules",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RuleRefusal:
    reason: str

    @property
    def status(self) -> int:
        return 503 if self.reason in (GEOIP_UNAVAILABLE, RULES_UNAVAILABLE) else 403

    @property
    def body(self) -> str:
        return BODIES[self.reason]


@dataclass(frozen=True)
class ViewerFacts:
    """What a request says about its viewer, as the gate reads it."""

    address: str  # the playback gate's client address (trusted proxies' X-Forwarded-For)
    host: str | None = None  # the host the viewer asked for (Host, or a trusted proxy's X-Forwarded-Host)
    origin: str | None = None
    referer: str | None = None
    user_agent: str | None = None
    country: str | None = None  # ISO code the GeoIP database gives the address; None: not placed
    # False for a reader's listener (SRT, RTSP): no page and no browser, so the referrer and user-agent
    # rules (which keep other sites' players out) do not apply; the address and country rules do.
    http: bool = True


def _glob(pattern: str) -> str:
    return ".*".join(re.escape(part) for part in pattern.lower().split("*"))


@dataclass(frozen=True)
class CompiledRules:
    """A PlaybackRules made ready for per-request decisions (once per rules file change)."""

    denied: tuple[Network, ...]
    allowed: tuple[Network, ...]
    allowed_countries: frozenset[str]
    denied_countries: frozenset[str]
    referrer_hosts: frozenset[str]  # exact host names
    referrer_suffixes: tuple[str, ...]  # ".example.com" for *.example.com
    check_referrer: bool
    allow_no_referrer: bool
    user_agents: re.Pattern[str] | None

    @classmethod
    def of(cls, rules: PlaybackRules) -> CompiledRules:
        referrers = rules.allowed_referrers or []
        agents = rules.allowed_user_agents or []
        return cls(
            denied=tuple(ipaddress.ip_network(c, strict=False) for c in rules.denied_cidrs or []),
            allowed=tuple(ipaddress.ip_network(c, strict=False) for c in rules.allowed_cidrs or []),
            allowed_countries=frozenset(rules.allowed_countries or []),
            denied_countries=frozenset(rules.denied_countries or []),
            referrer_hosts=frozenset(r for r in referrers if not r.startswith("*.")),
            referrer_suffixes=tuple(r[1:] for r in referrers if r.startswith("*.")),
            check_referrer=bool(referrers),
            allow_no_referrer=bool(rules.allow_no_referrer),
            user_agents=re.compile("|".join(f"(?:{_glob(p)})" for p in agents), re.S) if agents else None,
        )

    @property
    def needs_country(self) -> bool:
        return bool(self.allowed_countries or self.denied_countries)


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack listener's ::ffff:a.b.c.d is the IPv4 viewer
    return address


def host_of(value: str | None) -> str | None:
    """The host name of an Origin, Referer or Host value, lower case, without port or brackets;
    None when there is none to read."""
    if not value:
        return None
    try:
        host = urlsplit(value if "//" in value else "//" + value).hostname
    except ValueError:
        return None
    # urlsplit keeps the case after a `%` (an IPv6 zone id): no site is named so; fail closed.
    return host.rstrip(".") if host and "%" not in host else None


def _referrer_refused(rules: CompiledRules, facts: ViewerFacts) -> bool:
    page = facts.origin if facts.origin else facts.referer
    if not page:
        return not rules.allow_no_referrer
    host = host_of(page)  # Origin "null" (a sandboxed frame, file://) has no host: not a site we allow
    if host is None:
        return True
    if host == host_of(facts.host) or host in rules.referrer_hosts:
        return False
    return not any(host.endswith(suffix) for suffix in rules.referrer_suffixes)


def decide(rules: CompiledRules, facts: ViewerFacts) -> RuleRefusal | None:
    """None: the rules let the request through; else the first rule it fails."""
    if rules.denied or rules.allowed:
        address = _address(facts.address)
        if address is None or _in(address, rules.denied) or (rules.allowed and not _in(address, rules.allowed)):
            return RuleRefusal(ADDRESS)
    if rules.allowed_countries and facts.country not in rules.allowed_countries:
        return RuleRefusal(COUNTRY)
    if facts.country is not None and facts.country in rules.denied_countries:
        return RuleRefusal(COUNTRY)
    if not facts.http:
        return None
    if rules.check_referrer and _referrer_refused(rules, facts):
        return RuleRefusal(REFERRER)
    if rules.user_agents is not None and not rules.user_agents.fullmatch((facts.user_agent or "").lower()):
        return RuleRefusal(USER_AGENT)
    return None
