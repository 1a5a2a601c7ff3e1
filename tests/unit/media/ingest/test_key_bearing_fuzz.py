"""Fuzzed: whether a key-bearing request came over HTTPS (media.ingest.key_bearing.over_https), for
any X-Forwarded-Proto lines and any peer: only TLS to the ingest, or the last value a trusted proxy
wrote, says https; whatever a client writes (values, lines) before it changes nothing. Settings:
tests/unit/conftest.py."""

from __future__ import annotations

import ipaddress

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict
from streamops.contract.playback_token import is_trusted, trusted_networks
from streamops.media.ingest.key_bearing import over_https

TRUSTED = trusted_networks(["10.42.0.0/16", "fd00::/8"])
trusted_peers = st.sampled_from(list(TRUSTED)).flatmap(lambda n: st.ip_addresses(network=n)).map(str)
peers = trusted_peers | st.ip_addresses().map(str) | st.sampled_from(["", "::ffff:10.42.0.7", "unix"])
# A header line's value as aiohttp hands it over: no CR or LF; any other text (encodable: the mock encodes).
line_chars = st.characters(codec="utf-8", exclude_characters="\r\n")
protos = st.sampled_from(["https", "http", "HTTPS", " https ", "https\t", "wss", "https;", "", ","])
values = st.lists(protos | st.text(line_chars, max_size=12), min_size=1, max_size=4).map(",".join) | st.text(
    line_chars, max_size=60
)
huge = st.builds(lambda v, n: ", ".join([v] * n), protos, st.integers(500, 2000))


BASE = make_mocked_request("GET", "/publish")


def request(peer: str, lines: list[str], secure: bool = False) -> web.Request:
    headers = CIMultiDict(("X-Forwarded-Proto", v) for v in lines)
    return BASE.clone(headers=headers, remote=peer, scheme="https" if secure else "http")


def last_value(lines: list[str]) -> str:
    return ",".join(lines).split(",")[-1].strip()


@given(peers, st.lists(values | huge, max_size=3))
@example("203.0.113.9", ["https"])
def test_https_only_from_a_trusted_proxys_last_value(peer: str, lines: list[str]) -> None:
    answer = over_https(request(peer, lines), TRUSTED)
    assert answer == (is_trusted(peer, TRUSTED) and last_value(lines) == "https")
    assert over_https(request(peer, lines, secure=True), TRUSTED), "TLS to the ingest itself"
    assert not over_https(request(peer, lines), ()), "no trusted proxies: no header counts"


@given(trusted_peers, st.lists(values, min_size=1, max_size=3), st.sampled_from(["http", "https", "x, http"]))
@example("10.42.0.7", ["https"], "http")  # a client's own line first: read alone before
def test_what_a_client_writes_before_the_proxys_value_changes_nothing(proxy: str, forged: list[str], seen: str) -> None:
    expected = seen.endswith("https")
    assert over_https(request(proxy, [*forged, seen]), TRUSTED) == expected  # its own line (HAProxy's add-header)
    assert over_https(request(proxy, [f"{forged[0]}, {seen}"]), TRUSTED) == expected  # appended to the client's


@given(st.ip_addresses(), st.lists(values, max_size=2))
def test_an_address_spelled_otherwise_is_trusted_alike(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, lines: list[str]
) -> None:
    forms = {str(address), address.exploded, str(address).upper()}
    answers = {over_https(request(form, lines), TRUSTED) for form in forms}
    assert len(answers) == 1
