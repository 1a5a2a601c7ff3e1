"""The playback rules' decision (media/ingest/playback_rules.py), one row per case: rules, what the
request says, the verdict (None: served; else the refusal's reason)."""

from __future__ import annotations

from typing import Any

import pytest
from streamops.api.playback_policy import PlaybackRules
from streamops.media.ingest.playback_rules import CompiledRules, RuleRefusal, ViewerFacts, decide, host_of

REFERRERS = {"allowedReferrers": ["example.com", "*.partner.org"], "allowNoReferrer": False}
HOST = "play.example.net"

ROWS: list[tuple[str, dict[str, Any], dict[str, Any], str | None]] = [
    ("no rules", {}, {"address": "203.0.113.5"}, None),
    ("denied v4", {"deniedCIDRs": ["203.0.113.0/24"]}, {"address": "203.0.113.5"}, "address"),
    ("not denied v4", {"deniedCIDRs": ["203.0.113.0/24"]}, {"address": "198.51.100.1"}, None),
    ("denied v6", {"deniedCIDRs": ["2001:db8::/32"]}, {"address": "2001:db8::1"}, "address"),
    ("a v6 rule never matches v4", {"deniedCIDRs": ["::/0"]}, {"address": "203.0.113.5"}, None),
    ("mapped v4 is v4", {"deniedCIDRs": ["203.0.113.0/24"]}, {"address": "::ffff:203.0.113.5"}, "address"),
    ("allowed", {"allowedCIDRs": ["10.0.0.0/8", "2001:db8::/32"]}, {"address": "10.1.2.3"}, None),
    ("allowed v6", {"allowedCIDRs": ["10.0.0.0/8", "2001:db8::/32"]}, {"address": "2001:db8:1::9"}, None),
    ("outside allowed", {"allowedCIDRs": ["10.0.0.0/8"]}, {"address": "11.0.0.1"}, "address"),
    (
        "denied wins",
        {"allowedCIDRs": ["10.0.0.0/8"], "deniedCIDRs": ["10.9.0.0/16"]},
        {"address": "10.9.1.1"},
        "address",
    ),
    ("unreadable address", {"allowedCIDRs": ["10.0.0.0/8"]}, {"address": "unix"}, "address"),
    ("allowed country", {"allowedCountries": ["DE", "FR"]}, {"address": "1.1.1.1", "country": "DE"}, None),
    ("other country", {"allowedCountries": ["DE"]}, {"address": "1.1.1.1", "country": "US"}, "country"),
    ("unplaced, allow list", {"allowedCountries": ["DE"]}, {"address": "1.1.1.1"}, "country"),
    ("denied country", {"deniedCountries": ["US"]}, {"address": "1.1.1.1", "country": "US"}, "country"),
    ("unplaced, deny list", {"deniedCountries": ["US"]}, {"address": "1.1.1.1"}, None),
    ("exact referrer", REFERRERS, {"address": "1.1.1.1", "referer": "https://example.com/watch?v=1"}, None),
    ("subdomain of exact", REFERRERS, {"address": "1.1.1.1", "referer": "https://www.example.com/"}, "referrer"),
    ("wildcard", REFERRERS, {"address": "1.1.1.1", "origin": "https://a.b.partner.org:8443"}, None),
    ("wildcard is not its apex", REFERRERS, {"address": "1.1.1.1", "origin": "https://partner.org"}, "referrer"),
    ("suffix is not a label", REFERRERS, {"address": "1.1.1.1", "origin": "https://evilpartner.org"}, "referrer"),
    (
        "origin before referer",
        REFERRERS,
        {"address": "1.1.1.1", "origin": "https://evil.test", "referer": "https://example.com/"},
        "referrer",
    ),
    ("case", REFERRERS, {"address": "1.1.1.1", "origin": "https://EXAMPLE.com"}, None),
    ("no referrer, refused", REFERRERS, {"address": "1.1.1.1"}, "referrer"),
    ("no referrer, allowed", {**REFERRERS, "allowNoReferrer": True}, {"address": "1.1.1.1"}, None),
    ("origin null", {**REFERRERS, "allowNoReferrer": True}, {"address": "1.1.1.1", "origin": "null"}, "referrer"),
    (
        "the stream's own page",
        REFERRERS,
        {"address": "1.1.1.1", "host": f"{HOST}:8080", "referer": f"http://{HOST}/player"},
        None,
    ),
    (
        "another page of no one",
        REFERRERS,
        {"address": "1.1.1.1", "host": HOST, "referer": "http://other.test/"},
        "referrer",
    ),
    (
        "agent",
        {"allowedUserAgents": ["*Chrome/*", "VLC/*"]},
        {"address": "1.1.1.1", "user_agent": "Mozilla/5.0 Chrome/131.0"},
        None,
    ),
    (
        "agent case",
        {"allowedUserAgents": ["vlc/*"]},
        {"address": "1.1.1.1", "user_agent": "VLC/3.0.20 LibVLC/3.0.20"},
        None,
    ),
    (
        "agent whole header",
        {"allowedUserAgents": ["VLC"]},
        {"address": "1.1.1.1", "user_agent": "VLC/3.0"},
        "user_agent",
    ),
    ("agent literal dots", {"allowedUserAgents": ["a.b"]}, {"address": "1.1.1.1", "user_agent": "axb"}, "user_agent"),
    ("no agent", {"allowedUserAgents": ["*"]}, {"address": "1.1.1.1"}, None),
    ("no agent, pattern", {"allowedUserAgents": ["x*"]}, {"address": "1.1.1.1"}, "user_agent"),
    (
        "address before the rest",
        {"deniedCIDRs": ["1.1.1.0/24"], "deniedCountries": ["US"], **REFERRERS, "allowedUserAgents": ["x"]},
        {"address": "1.1.1.1", "country": "US"},
        "address",
    ),
    (
        "country before referrer",
        {"deniedCountries": ["US"], **REFERRERS, "allowedUserAgents": ["x"]},
        {"address": "1.1.1.1", "country": "US"},
        "country",
    ),
    ("referrer before agent", {**REFERRERS, "allowedUserAgents": ["x"]}, {"address": "1.1.1.1"}, "referrer"),
]


@pytest.mark.parametrize(("rules", "facts", "verdict"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_decide(rules: dict[str, Any], facts: dict[str, Any], verdict: str | None) -> None:
    refusal = decide(CompiledRules.of(PlaybackRules.model_validate(rules)), ViewerFacts(**facts))
    assert (refusal.reason if refusal else None) == verdict


def test_refusals_say_the_rule_and_the_server_faults_are_503() -> None:
    assert RuleRefusal("referrer").status == 403 and "site" in RuleRefusal("referrer").body
    assert RuleRefusal("geoip_unavailable").status == 503
    assert RuleRefusal("rules_unavailable").status == 503


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://a.example.com:8443/x", "a.example.com"),
        ("a.example.com:8080", "a.example.com"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("http://EXAMPLE.com./", "example.com"),
        ("null", "null"),
        ("http://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_host_of(value: str | None, host: str | None) -> None:
    assert host_of(value) == host


def test_a_listener_s_facts_are_its_address_only() -> None:
    """SRT and RTSP readers have no page and no browser: the referrer and user-agent rules keep other
    sites' players out and do not apply to them; the address and country rules do."""
    rules = CompiledRules.of(
        PlaybackRules.model_validate(
            {"deniedCIDRs": ["192.0.2.0/24"], "allowedReferrers": ["example.com"], "allowNoReferrer": False,
             "allowedUserAgents": ["Chrome/*"], "deniedCountries": ["FR"]}
        )
    )  # fmt: skip
    assert decide(rules, ViewerFacts(address="198.51.100.1", http=False)) is None
    assert decide(rules, ViewerFacts(address="198.51.100.1")) == RuleRefusal("referrer")
    assert decide(rules, ViewerFacts(address="192.0.2.1", http=False)) == RuleRefusal("address")
    assert decide(rules, ViewerFacts(address="198.51.100.1", country="FR", http=False)) == RuleRefusal("country")
