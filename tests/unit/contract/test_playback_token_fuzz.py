"""Fuzzed: the playback token (contract.playback_token: parse, verify, split_token_path) and whose
address a request is (client_address, is_trusted, and the gate's reading of X-Forwarded-For).
Every property holds for any input: a token path segment and X-Forwarded-For are the viewer's to
write. Settings: tests/unit/conftest.py."""

from __future__ import annotations

import ipaddress
import logging
import string

from aiohttp.test_utils import make_mocked_request
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.contract.playback_token import (
    CLOCK_SKEW_SECONDS,
    SEPARATOR,
    TOKEN_SEGMENT,
    Refusal,
    client_address,
    is_trusted,
    key_id,
    parse,
    sign,
    split_token_path,
    trusted_networks,
    verify,
)
from streamops.media.ingest.playback_access import PlaybackGate

PROXIES = ("10.42.0.0/16", "fd00::/8", "192.0.2.0/24")
TRUSTED = trusted_networks(PROXIES)
TOKEN_CHARS = string.ascii_letters + string.digits + "_-~.:"

# Text that parsers trip on: separators, whitespace of every kind, digits of other scripts, CR/LF.
nasty_chars = st.characters(codec="utf-8") | st.sampled_from(
    [*",~/:.%[]@ \t\r\n\x00\x0b\x0c\x85\xa0\u2028\u3000١٢３\ufeff", "\udc80"]
)
nasty_text = st.text(nasty_chars, max_size=80)
keys = st.binary(min_size=1, max_size=48)
streams = st.from_regex(r"[a-z0-9-]{1,12}/[a-z0-9-]{1,12}", fullmatch=True)
addresses = st.ip_addresses()
expiries = st.integers(min_value=0, max_value=10**12 - 1)


def spellings(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """Ways a proxy may write one address: compressed, exploded, upper case, IPv4 as IPv4-mapped."""
    forms = [str(address), address.exploded, str(address).upper()]
    if address.version == 4:
        forms += [f"::ffff:{address}", f"::FFFF:{address}"]
    return forms


@st.composite
def signed(draw: st.DrawFn) -> tuple[str, bytes, str, int, str]:
    """A token as `streamops playback url` writes it, with what it was signed with."""
    key, stream, expires = draw(keys), draw(streams), draw(expiries)
    ip = draw(st.just("") | addresses.map(str))
    return sign(key, stream, expires, ip), key, stream, expires, ip


@st.composite
def mutated(draw: st.DrawFn, token: str) -> str:
    """One edit of `token`: a character replaced, inserted or removed, or something appended."""
    at = draw(st.integers(0, len(token)))
    char = draw(st.sampled_from(TOKEN_CHARS + "\n\r \t%/") | nasty_chars)
    kind = draw(st.sampled_from(["replace", "insert", "delete", "append", "append"]))
    if kind == "replace" and at < len(token):
        return token[:at] + char + token[at + 1 :]
    if kind == "delete" and at < len(token):
        return token[:at] + token[at + 1 :]
    if kind == "append":
        return token + draw(st.sampled_from(["\n", "\r\n", "\n\n", "\n", " ", "~", "/", "\x00"]))
    return token[:at] + char + token[at:]


# --- parse and verify -------------------------------------------------------------------------------


@given(nasty_text | st.builds(lambda parts: SEPARATOR.join(parts), st.lists(nasty_text, max_size=7)))
@example("v1~AAAAAAAA~1~~" + "A" * 43 + "\n")  # `$` matched before a final newline: honoured before
def test_parse_takes_exactly_the_format_and_nothing_around_it(token: str) -> None:
    parsed = parse(token)
    if parsed is None:
        return
    version, kid, expires, ip, signature = token.split(SEPARATOR)
    assert (version, kid, int(expires), ip, signature) == (
        "v1",
        parsed.kid,
        parsed.expires,
        parsed.ip,
        parsed.signature,
    )
    assert token.isascii() and token.isprintable() and len(token) <= 2 + 1 + 8 + 1 + 12 + 1 + 45 + 1 + 43
    assert len(signature) == 43 and len(kid) == 8


@given(
    nasty_text | signed().map(lambda s: s[0]),
    st.lists(keys, max_size=3),
    streams,
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e13, max_value=1e13),
    nasty_text,
)
def test_verify_answers_a_refusal_or_none_for_any_token(
    token: str, keys: list[bytes], stream: str, now: float, client: str
) -> None:
    answer = verify(token, keys, stream, now, client)
    assert answer is None or isinstance(answer, Refusal)
    if answer is None:  # only ever a token one of the keys signed for this stream, in time, for this viewer
        parsed = parse(token)
        assert parsed is not None and now < parsed.expires + CLOCK_SKEW_SECONDS
        assert parsed.ip in ("", client)
        assert any(sign(k, stream, parsed.expires, parsed.ip).split(SEPARATOR)[4] == parsed.signature for k in keys)


Signed = tuple[str, bytes, str, int, str]
edits = signed().flatmap(lambda s: st.tuples(st.just(s), mutated(s[0])))
REGRESSION = (sign(b"k", "ns/cam", 2000, ""), b"k", "ns/cam", 2000, "")


@given(edits)
@example((REGRESSION, REGRESSION[0] + "\n"))  # a path's "%0A" after a valid token: it was honoured
def test_a_token_edited_anywhere_is_refused(case: tuple[Signed, str]) -> None:
    (text, key, stream, expires, ip), edited = case
    if edited == text:
        return
    if verify(edited, [key], stream, expires - 1, ip or "198.51.100.1") is None:
        # The one edit that is the same token: the expiry written with a leading zero (the edge's
        # Lua twin reads the same number; the signature covers the number, not its spelling).
        parts, original = edited.split(SEPARATOR), text.split(SEPARATOR)
        assert parts[2] != original[2] and parts[2].startswith("0") and int(parts[2]) == expires
        assert parts[:2] + parts[3:] == original[:2] + original[3:]


@given(signed(), streams, nasty_text)
def test_a_token_holds_for_its_stream_until_its_expiry_and_for_its_viewer_only(
    token: Signed, other_stream: str, other_client: str
) -> None:
    text, key, stream, expires, ip = token
    client = ip or "198.51.100.1"
    assert verify(text, [key], stream, expires, client) is None
    assert verify(text, [key], stream, expires + CLOCK_SKEW_SECONDS, client) is Refusal.EXPIRED
    if other_stream != stream:
        assert verify(text, [key], other_stream, expires, client) is Refusal.INVALID
    if ip and other_client != ip:
        assert verify(text, [key], stream, expires, other_client) is Refusal.OTHER_VIEWER
    others = [k for k in (b"x" + key, key[:-1] or b"y") if key_id(k) != key_id(key)]
    assert verify(text, others, stream, expires, client) is Refusal.UNKNOWN_KEY
    assert verify("", [key], stream, expires, client) is Refusal.MISSING


@given(
    st.text(st.sampled_from("/t" + TOKEN_CHARS[:5]) | nasty_chars, max_size=60),
    st.sampled_from(["", "/live", "/streams/ns/cam"]) | nasty_text,
)
@example("/live/t/tok/hls/index.m3u8", "/live")
@example("/t/tok/", "")
def test_split_token_path_takes_out_exactly_one_segment(path: str, prefix: str) -> None:
    token, rest = split_token_path(path, prefix)
    if token is None:
        assert rest == path
        return
    assert token and "/" not in token
    base = next(b for b in dict.fromkeys((prefix, "")) if rest.startswith(b + "/") and path.startswith(b + "/t/"))
    assert path == f"{base}/{TOKEN_SEGMENT}/{token}{rest[len(base) :]}"


# --- whose address -------------------------------------------------------------------------------


def hop_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address, spelling: int, pad: str) -> str:
    forms = spellings(address)
    return pad + forms[spelling % len(forms)] + pad


trusted_addresses = st.sampled_from(list(TRUSTED)).flatmap(lambda n: st.ip_addresses(network=n))
hops = st.one_of(
    st.builds(hop_text, trusted_addresses, st.integers(0, 4), st.sampled_from(["", " ", "\t"])),
    st.builds(hop_text, addresses, st.integers(0, 4), st.sampled_from(["", " ", "  "])),
    st.text(nasty_chars.filter(lambda c: c != ","), max_size=20),  # not an address
    st.sampled_from(["unknown", "_hidden", "[::1]", "127.0.0.1:80", "fe80::1%eth0", "0x7f.1", "2130706433", ""]),
)
headers = st.lists(hops, max_size=12).map(", ".join) | nasty_text
# Now and then a header at aiohttp's 8 KiB line bound: thousands of hops.
huge_headers = st.builds(lambda hop, n: ",".join([hop] * n), hops, st.integers(500, 4000))
peers = st.one_of(trusted_addresses.map(str), addresses.map(str), st.sampled_from(["", "::ffff:10.42.0.7"]), nasty_text)
networks = st.sampled_from([TRUSTED, (), trusted_networks(["0.0.0.0/0", "::/0"]), trusted_networks(["10.42.0.7/32"])])


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@given(headers | huge_headers | st.none(), peers | st.none(), networks)
@example(None, None, TRUSTED)
@example("10.1.2.3, not-an-ip, 10.42.0.9", "10.42.0.7", TRUSTED)
def test_the_client_is_the_peer_or_an_entry_and_a_proxy_only_when_all_are(
    forwarded: str | None, peer: str | None, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> None:
    client = client_address(forwarded, peer, trusted)
    entries = [h.strip() for h in forwarded.split(",")] if forwarded else []
    assert client == (peer or "") or client in entries
    if not is_trusted(peer or "", trusted):
        assert client == (peer or ""), "an untrusted peer's header is its own claim"
        return
    if client != peer:
        assert is_address(client)
    if is_trusted(client, trusted):
        # A proxy's address only when every entry is a proxy, or the walk met one that is no address.
        assert all(is_address(e) and is_trusted(e, trusted) for e in entries) or not all(map(is_address, entries))


@given(headers, headers | huge_headers, peers, networks)
@example("203.0.113.50", "198.51.100.4", "10.42.0.7", TRUSTED)
def test_what_a_client_writes_left_of_an_untrusted_hop_changes_nothing(
    forged: str, forwarded: str, peer: str, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> None:
    answer = client_address(forwarded, peer, trusted)
    if is_trusted(answer, trusted):
        return  # the walk went through the whole header: what is left of it is where it goes on
    assert client_address(f"{forged},{forwarded}", peer, trusted) == answer
    assert client_address(f"{forged}, {forwarded}", peer, trusted) == answer


@given(trusted_addresses | addresses, networks)
def test_trust_does_not_depend_on_how_an_address_is_written(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> None:
    answers = {is_trusted(form, trusted) for form in spellings(address)}
    assert len(answers) == 1
    # Not an address as written (brackets, a port, a trailing dot): never trusted.
    for form in (f"[{address}]", f"{address}:80", f"[{address}]:80", f"{address}.", f"{address},", f" {address}"):
        assert is_address(form) or not is_trusted(form, trusted)


@given(st.lists(nasty_text | st.builds(lambda a, n: f"{a}/{n}", addresses, st.integers(-1, 129)), max_size=4))
def test_trusted_networks_are_networks_or_a_value_error(cidrs: list[str]) -> None:
    try:
        networks = trusted_networks(cidrs)
    except ValueError:
        return
    assert len(networks) == len(cidrs)


# --- the gate reads every X-Forwarded-For line -----------------------------------------------------------

GATE = PlaybackGate(
    IngestConfig.model_validate(
        {"stream": "cam", "source": {"push": {}}, "mediaDir": "/nonexistent", "trustedProxies": list(PROXIES)}
    ),
    CollectorRegistry(),
    {"stream": "cam", "role": "primary"},
    logging.getLogger("test"),
)


def header_line(value: str) -> bool:
    """What a header line can hold once aiohttp parsed it: no CR or LF (the mock encodes it as UTF-8)."""
    return "\r" not in value and "\n" not in value and value.encode("utf-8", "ignore").decode() == value


header_values = (nasty_text | headers).filter(header_line)
BASE = make_mocked_request("GET", "/")


@given(st.lists(header_values, max_size=3), addresses, trusted_addresses)
@example(["203.0.113.50"], ipaddress.ip_address("198.51.100.4"), ipaddress.ip_address("10.42.0.7"))
def test_a_client_line_before_the_proxys_own_changes_nothing(
    forged: list[str],
    seen: ipaddress.IPv4Address | ipaddress.IPv6Address,
    proxy: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    """A proxy that adds a header line of its own (HAProxy's `option forwardfor`) instead of
    appending to the client's: the client's lines come first. Before, only the first was read."""
    lines = [("X-Forwarded-For", value) for value in forged] + [("X-Forwarded-For", str(seen))]
    request = BASE.clone(headers=CIMultiDict(lines), remote=str(proxy))
    if not is_trusted(str(seen), TRUSTED):
        assert GATE.client(request) == str(seen)
    alone = BASE.clone(headers=CIMultiDict(lines[-1:]), remote=str(proxy))
    assert GATE.client(alone) == client_address(str(seen), str(proxy), TRUSTED)
