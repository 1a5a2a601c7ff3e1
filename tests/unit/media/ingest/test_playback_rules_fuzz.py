"""Fuzzed: the playback rules' decision (media.ingest.playback_rules) on whatever a client writes in
Origin, Referer, Host and User-Agent and any address: it never raises, a page on a listed host or the
stream's own plays, and anything else under a referrer rule is refused. Settings: tests/unit/conftest.py."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from streamops.api.playback_policy import PlaybackRules
from streamops.media.ingest.playback_rules import CompiledRules, ViewerFacts, decide, host_of

RULES = CompiledRules.of(
    PlaybackRules.model_validate(
        {
            "deniedCIDRs": ["192.0.2.0/24", "2001:db8::/32"],
            "allowedReferrers": ["example.com", "*.partner.test"],
            "allowNoReferrer": False,
            "allowedUserAgents": ["*"],
        }
    )
)
line_chars = st.characters(codec="utf-8", exclude_characters="\r\n")
header = (
    st.none()
    | st.text(line_chars, max_size=80)
    | st.sampled_from(
        [
            "null",
            "https://example.com",
            "https://a.partner.test:8443/x",
            "http://[::1",
            "//@",
            "https://user@example.com@evil.test/",
        ]
    )
)
addresses = st.ip_addresses().map(str) | st.text(line_chars, max_size=20)


@given(addresses, header, header, header, header)
@example("203.0.113.1", "https://user@example.com@evil.test/", None, None, "x")
def test_any_headers_are_decided_without_raising(address, origin, referer, host, agent) -> None:
    facts = ViewerFacts(address=address, host=host, origin=origin, referer=referer, user_agent=agent)
    refusal = decide(RULES, facts)
    page = host_of(origin or referer)
    if refusal is None:
        assert page is not None and (page in ("example.com", host_of(host)) or page.endswith(".partner.test"))
    else:
        assert refusal.reason in ("address", "referrer")


@given(st.text(line_chars, max_size=200))
@example("%A")  # urlsplit keeps an IPv6 zone id's case: such a host is none
def test_host_of_is_lower_case_or_none(value: str) -> None:
    host = host_of(value)
    assert host is None or (host == host.lower() and "/" not in host)
