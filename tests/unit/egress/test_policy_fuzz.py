"""Fuzzed: the egress guard (streamops.egress; docs/design/egress.md). A tenant chooses overlay URLs
and webhook URLs, its page chooses every request its Chromium sends through the proxy, and a name
answers whatever its DNS says: the address policy, the resolution, the proxy's reading of a request
head and the webhook sender's reading of a URL must hold for any of it. Fail closed: what does not
parse is refused (400, EgressRefused), never connected to. Settings: tests/unit/conftest.py."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from types import SimpleNamespace
from typing import Any

import aiohttp
from hypothesis import example, given
from hypothesis import strategies as st
from streamops.api.webhook import StreamWebhookSpec
from streamops.contract.egress_policy import DENIED_NETWORKS, REFUSED, EgressPolicy, EgressRefused, unwrapped
from streamops.control.shared.settings import OperatorSettings
from streamops.control.webhook.delivery import SubscriptionDelivery
from streamops.control.webhook.outbox import PendingEvent
from streamops.control.webhook.subscription import Subscription
from streamops.egress.pinning import pinned
from streamops.egress.proxy import HOP_BY_HOP, MAX_HEAD_BYTES, BadRequest, GuardProxy, host_key, parsed_head
from streamops.egress.proxy import split_authority as split_authority_of
from streamops.egress.resolution import checked_addresses, ip_literal

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT = EgressPolicy()

v4 = st.ip_addresses(v=4)
addresses = st.ip_addresses()
# The ranges worth hitting often: the refused ones, and a few public ones beside them.
near = st.sampled_from([*DENIED_NETWORKS, ipaddress.ip_network("93.184.216.0/24"), ipaddress.ip_network("2606::/16")])
addresses_near = near.flatmap(lambda n: st.ip_addresses(network=n))
any_address = addresses | addresses_near | v4
networks = st.builds(
    lambda a, bits: ipaddress.ip_network(f"{a}/{bits % (a.max_prefixlen + 1)}", strict=False),
    any_address,
    st.integers(0, 128),
)
policies = st.builds(
    lambda allow, cluster: EgressPolicy(allow_cidrs=[str(n) for n in allow], cluster_cidrs=[str(n) for n in cluster]),
    st.lists(networks, max_size=3),
    st.lists(networks, max_size=3),
)
latin1 = st.characters(max_codepoint=0xFF)
nasty = st.text(latin1 | st.sampled_from(list("١٢３\u3000\ufeff")), max_size=40)


def embeddings(address: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    """The IPv6 forms that carry an IPv4 address: compatible, NAT64 (well-known and local-use),
    6to4, Teredo (as server and as client), IPv4-translated."""
    n = int(address)
    return [
        ipaddress.IPv6Address(n),  # ::a.b.c.d
        ipaddress.IPv6Address(0x0064_FF9B << 96 | n),  # 64:ff9b::a.b.c.d
        ipaddress.IPv6Address(0x0064_FF9B_0001 << 80 | n),  # 64:ff9b:1::a.b.c.d
        ipaddress.IPv6Address(0x2002 << 112 | n << 80),  # 2002:AABB:CCDD::
        ipaddress.IPv6Address(0x2001_0000 << 96 | n << 64),  # Teredo server
        ipaddress.IPv6Address(0x2001_0000 << 96 | (~n & 0xFFFF_FFFF)),  # Teredo client (obfuscated)
        ipaddress.IPv6Address(0xFFFF_0000 << 32 | n),  # ::ffff:0:a.b.c.d
    ]


def spellings(address: Address) -> list[str]:
    """How one address may be written where a literal is taken: compressed, exploded, upper case,
    bracketed, an IPv6's hextets with their leading zeros, an IPv4-mapped one as a dotted quad."""
    forms = [str(address), address.exploded, str(address).upper(), f"[{address}]", f"[{address.exploded}]"]
    if isinstance(address, ipaddress.IPv6Address):
        forms.append(":".join(f"{int(h, 16):04x}" for h in address.exploded.split(":")))
        if address.ipv4_mapped is not None:
            forms += [f"::ffff:{address.ipv4_mapped}", f"[::FFFF:{address.ipv4_mapped}]"]
    return forms


def other_ipv4_spellings(address: ipaddress.IPv4Address) -> list[str]:
    """What inet_aton (and with it getaddrinfo) takes as an IPv4 address but a literal is not:
    decimal, octal, hex, short forms, a trailing dot, a zone, digits of other scripts."""
    a, b, c, d = address.packed
    n = int(address)
    return [
        str(n),
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}",
        hex(n),
        f"{a}.{n & 0xFFFFFF}",
        f"{a}.{b}.{n & 0xFFFF}",
        f"{address}.",
        f"{address}%eth0",
        f" {address}",
        f"{address} ",
        str(address).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        str(address).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ]


# --- the policy ------------------------------------------------------------------------------------


@given(any_address)
@example(ipaddress.ip_address("::ffff:169.254.169.254"))
def test_an_allowed_address_is_global_and_in_no_refused_range(address: Address) -> None:
    if DEFAULT.refuses(address):
        return
    for candidate in (address, unwrapped(address)):
        assert candidate.is_global
        assert not any(candidate.version == n.version and candidate in n for n in DENIED_NETWORKS)


@given(v4 | addresses_near.filter(lambda a: a.version == 4), policies)
def test_every_form_that_carries_an_ipv4_address_is_refused(
    address: ipaddress.IPv4Address, policy: EgressPolicy
) -> None:
    """Reached through a translator or a tunnel, or (IPv4-mapped) as the IPv4 address itself: refused
    whatever the IPv4 address, unless the allow-list names the form, or (mapped) the IPv4 address."""
    mapped = ipaddress.IPv6Address(0xFFFF << 32 | int(address))
    for form in [mapped, *embeddings(address)]:
        assert DEFAULT.refuses(form), form
    if not policy.refuses(mapped):
        allowed = [ipaddress.ip_network(c) for c in policy.allow_cidrs]
        assert any(mapped in n for n in allowed if n.version == 6) or not policy.refuses(address)


@given(policies, any_address)
def test_the_allow_list_wins_and_the_cluster_ranges_are_refused(policy: EgressPolicy, address: Address) -> None:
    def within(cidrs: list[str]) -> bool:
        nets = [ipaddress.ip_network(c) for c in cidrs]
        return any(a.version == n.version and a in n for a in (address, unwrapped(address)) for n in nets)

    if within(policy.allow_cidrs):
        assert not policy.refuses(address)
    elif within(policy.cluster_cidrs):
        assert policy.refuses(address)
    else:
        assert policy.refuses(address) == DEFAULT.refuses(address)


@given(any_address, policies)
def test_a_literal_is_the_same_address_however_it_is_written(address: Address, policy: EgressPolicy) -> None:
    for form in spellings(address):
        literal = ip_literal(form)
        assert literal == address, form
        assert policy.refuses(literal) == policy.refuses(address)


@given(v4 | addresses_near.filter(lambda a: a.version == 4))
@example(ipaddress.IPv4Address("127.0.0.1"))
@example(ipaddress.IPv4Address("169.254.169.254"))
def test_other_ipv4_spellings_are_names_whose_answers_are_checked(address: ipaddress.IPv4Address) -> None:
    """getaddrinfo takes "2130706433" or "0177.1" as 127.0.0.1 (inet_aton): no literal, so they are
    resolved, and what they resolve to is checked like any name's answer."""

    async def inet_aton(name: str, port: int) -> list[str]:
        try:
            return [socket.inet_ntoa(socket.inet_aton(name.removesuffix(".")))]
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    async def scenario() -> None:
        for form in other_ipv4_spellings(address):
            assert ip_literal(form) is None, form
            try:
                found = await checked_addresses(form, 80, DEFAULT, inet_aton)
            except (EgressRefused, OSError):
                continue
            assert found and not any(DEFAULT.refuses(a) for a in found), form

    asyncio.run(scenario())


@given(nasty | st.from_regex(r"[a-zA-Z0-9-]{1,10}(\.[a-zA-Z0-9-]{0,10}){0,3}\.?", fullmatch=True))
@example("cam-ingest.other-tenant.svc.cluster.local.")
@example("LOCALHOST")
def test_a_cluster_name_is_one_whatever_its_case_and_trailing_dots(host: str) -> None:
    internal = DEFAULT.internal_name(host)
    if host.isascii():
        assert DEFAULT.internal_name(host.swapcase() + "..") == internal
    if host.rstrip(".").lower().endswith((".svc", ".cluster.local", ".localhost", ".internal")):
        assert internal


# --- resolution ------------------------------------------------------------------------------------

answer_texts = st.one_of(
    any_address.map(str),
    st.builds(lambda a, zone: f"{a}%{zone}", st.ip_addresses(v=6), st.sampled_from(["eth0", "1", "", "%"])),
    nasty,
)
hosts = st.one_of(
    nasty,
    any_address.flatmap(lambda a: st.sampled_from(spellings(a))),
    v4.flatmap(lambda a: st.sampled_from(other_ipv4_spellings(a))),
    st.sampled_from(["a..b", "x" * 64 + ".example", ".", "..", "", "[]", "[::1", "xn--", "ex\u00e9.com", "h\x00"]),
    st.from_regex(r"[a-z0-9-]{1,8}(\.[a-z0-9-]{1,8}){0,2}\.(svc|cluster\.local|example|com)\.?", fullmatch=True),
)
outcomes = st.lists(answer_texts, max_size=4) | st.sampled_from(
    [socket.gaierror(socket.EAI_NONAME, "Name or service not known"), OSError("unreachable")]
)


@given(hosts, outcomes, policies)
@example("a..b", ["93.184.216.34"], EgressPolicy())  # getaddrinfo: UnicodeError, not OSError
@example("x" * 64 + ".example", ["93.184.216.34"], EgressPolicy())
def test_checked_addresses_are_allowed_answers_or_a_refusal(
    host: str, outcome: list[str] | OSError, policy: EgressPolicy
) -> None:
    asked: list[str] = []

    async def resolve(name: str, port: int) -> list[str]:
        asked.append(name)
        if isinstance(outcome, OSError):
            raise outcome
        return outcome

    try:
        found = asyncio.run(checked_addresses(host, 443, policy, resolve))
    except EgressRefused:
        found = None
    except OSError:
        # Only a name that did not resolve, and never a cluster one (that would tell it exists).
        assert isinstance(outcome, OSError) and asked and not policy.internal_name(asked[0].rstrip("."))
        return
    assert len(asked) <= 1, "resolved once"
    for name in asked:  # absolute, lower case, and a name getaddrinfo can be asked for
        assert name.endswith(".") and not name.endswith("..") and name == name.lower()
        name.encode("idna")
    if found is None:
        return
    literal = ip_literal(host)
    answers = [] if isinstance(outcome, OSError) else [ip_literal(a.split("%")[0]) for a in outcome]
    assert found and all(not policy.refuses(a) for a in found)
    assert all(a == literal for a in found) if literal is not None else all(a in answers for a in found)


# --- the proxy: a request head ----------------------------------------------------------------------

PROXY_HOSTS = ["pages.example", "cdn.example.", "127.0.0.1", "[::1]", "169.254.169.254", "[::ffff:a9fe:a9fe]"]
methods = st.sampled_from(["GET", "POST", "CONNECT", "HEAD", "get", "", "G\nX:1", "GET\x00", "PRI"]) | st.from_regex(
    r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}", fullmatch=True
)
host_forms = st.sampled_from([*PROXY_HOSTS, "PAGES.EXAMPLE", "pages.example.", "[pages.example]", "user@pages.example"])
ports = st.sampled_from(["", ":", ":80", ":443", ":0", ":65535", ":65536", ":99999", ":-1", ":²", ":8080 "])
paths = st.sampled_from(["", "/", "/a?b=1", "/%0a", "/\tx", "#frag", "/a\nHost: x"]) | nasty.map(lambda t: "/" + t)
targets = st.one_of(
    st.builds(
        lambda scheme, user, host, port, path: f"{scheme}://{user}{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        st.sampled_from(["", "u:p@", "@", "a@b@"]),
        host_forms | hosts,
        ports,
        paths,
    ),
    st.builds(lambda host, port: f"{host}{port}", host_forms | hosts, ports),  # CONNECT's authority
    nasty,
)
field_names = st.sampled_from(
    ["Host", "Connection", "Proxy-Authorization", "proxy-connection", "UPGRADE", "TE", "Keep-Alive", "Accept"]
) | st.sampled_from(["Proxy-Authorization ", " Upgrade", "Connection\x00", "X\nUpgrade", ""])
fields = st.builds(lambda n, v: f"{n}:{v}", field_names, nasty) | nasty
line_ends = st.sampled_from(["\r\n", "\r\n", "\r\n", "\n", "\r"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    method, target = draw(methods), draw(targets)
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "http/1.1", "HTTP/1.1 x", ""]))
    lines = [f"{method} {target} {version}", *draw(st.lists(fields, max_size=5))]
    text = "".join(line + draw(line_ends) for line in lines)
    return (text + "\r\n").encode("latin-1", "replace")


head_bytes = heads() | st.binary(max_size=300).map(lambda b: b + b"\r\n\r\n")


def strict_lines(data: bytes) -> list[str]:
    """How the most lenient upstream reads a head: a line ends at LF, CRLF or a lone CR."""
    return re.split(r"\r\n|\n|\r", data.decode("latin-1"))


@given(head_bytes)
@example(b"GET http://pages.example/ HTTP/1.1\r\nX: y\nProxy-Authorization: s\r\n\r\n")  # a bare LF hid a line
@example(b"GET http://pages.example:0/ HTTP/1.1\r\n\r\n")  # port 0 went to port 80
@example(b"G\nUpgrade: x http://pages.example/ HTTP/1.1\r\n\r\n")
def test_a_head_is_refused_or_forwarded_with_no_hop_by_hop_line(head: bytes) -> None:
    try:
        method, host, port, forwarded = parsed_head(head)
    except (BadRequest, ValueError):  # what the proxy answers 400
        return
    assert re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", method)
    assert host and host == host_key(host) and 0 < port < 65536
    if forwarded is None:
        assert method == "CONNECT"
        return
    lines = strict_lines(forwarded)
    assert lines[-2:] == ["", ""] and lines[-3] == "Connection: close"
    request_line, *header_lines = lines[:-2]
    sent_method, path, version = request_line.split(" ")
    assert (sent_method, version) == (method, "HTTP/1.1") and path.startswith("/")
    names = [line.partition(":")[0].strip().lower() for line in header_lines]
    assert not HOP_BY_HOP & set(names[:-1]), names
    assert "\x00" not in forwarded.decode("latin-1") and not re.search(r"[\x00-\x1f\x7f]", request_line)
    explicit = re.match(r"[a-z]+://[^/?#]*:(\d+)(?:[/?#]|$)", head.decode("latin-1").split(" ")[1], re.I)
    if explicit:
        assert port == int(explicit.group(1))


@given(targets | nasty)
@example("[::1]:443")
@example("pages.example:²")
@example(".:1")  # an empty host, once its dots were taken off
@example("0:３")  # a fullwidth digit: int() takes it, the port is not what was written (CI, 2026-11-27)
def test_a_connect_authority_is_a_host_and_a_port_or_bad(authority: str) -> None:
    try:
        host, port = split_authority_of(authority)
    except (BadRequest, ValueError):
        return
    assert host == host_key(host) and host and 0 < port < 65536
    assert authority.endswith(f":{port}") or authority.rpartition(":")[2].lstrip("0") == str(port)


class Sink:
    """A StreamWriter's side the proxy uses: what it wrote, and whether it closed."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True


RESERVED = 9222  # a port no page may reach on loopback (the renderer's CDP port, say)


@given(head_bytes | st.binary(max_size=200), st.lists(answer_texts, max_size=3), policies)
@example(b"CONNECT 127.0.0.1:9222 HTTP/1.1\r\n\r\n", ["127.0.0.1"], EgressPolicy(allow_cidrs=["127.0.0.0/8"]))
@example(b"GET http://pages.example/ HTTP/1.1\r\n\r\n", ["169.254.169.254", "93.184.216.34"], EgressPolicy())
def test_the_proxy_connects_only_to_allowed_hosts_checked_addresses(
    head: bytes, answers: list[str], policy: EgressPolicy
) -> None:
    connected: list[tuple[str, int]] = []
    upstream_sinks: list[Sink] = []

    async def resolve(name: str, port: int) -> list[str]:
        return answers

    async def connect(address: str, port: int) -> tuple[asyncio.StreamReader, Any]:
        connected.append((address, port))
        reader = asyncio.StreamReader()
        reader.feed_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        reader.feed_eof()
        upstream_sinks.append(Sink())
        return reader, upstream_sinks[-1]

    async def scenario() -> Sink:
        proxy = GuardProxy(policy, PROXY_HOSTS, resolve=resolve, connect=connect)  # type: ignore[arg-type]
        proxy.reserved_ports.add(RESERVED)
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
        reader.feed_data(head)
        reader.feed_eof()
        client = Sink()
        await proxy._serve(reader, client)  # type: ignore[arg-type]
        assert proxy.active == 0 and client.closed
        return client

    answer = bytes(asyncio.run(scenario()).data)
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert answer.startswith(b"HTTP/1.1 ") and status in (200, 400, 403, 431, 502), answer[:80]
    hosts = {host_key(h) for h in PROXY_HOSTS}
    for address, port in connected:
        ip = ipaddress.ip_address(address)
        assert not policy.refuses(ip) and not (ip.is_loopback and port == RESERVED)
        assert 0 < port < 65536
    if connected:  # only for a head that parses, to a host of the overlays
        _, host, port, forwarded = parsed_head(head.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
        assert host in hosts and all(p == port for _, p in connected)
        for sink in upstream_sinks:
            assert forwarded is None or bytes(sink.data).startswith(forwarded)


@given(st.integers(MAX_HEAD_BYTES - 64, 4 * MAX_HEAD_BYTES), st.sampled_from([b"a", b"X: y\r\n"]))
@example(MAX_HEAD_BYTES - 36 - 1, b"a")
@example(MAX_HEAD_BYTES - 36 + 1, b"a")
def test_a_head_past_the_bound_is_answered_431_and_goes_nowhere(size: int, filler: bytes) -> None:
    head = b"GET http://pages.example/ HTTP/1.1\r\n" + filler * (size // len(filler))

    async def scenario() -> bytes:
        async def resolve(name: str, port: int) -> list[str]:
            return ["10.0.0.1"]

        async def connect(address: str, port: int) -> Any:
            raise AssertionError("connected")

        proxy = GuardProxy(DEFAULT, PROXY_HOSTS, resolve=resolve, connect=connect)
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
        reader.feed_data(head + b"\r\n\r\n")
        reader.feed_eof()
        client = Sink()
        await proxy._serve(reader, client)  # type: ignore[arg-type]
        return bytes(client.data)

    answer = asyncio.run(scenario())
    # The bound is where the head's blank line starts (asyncio's readuntil limit): its 4 bytes aside.
    end = (head + b"\r\n\r\n").find(b"\r\n\r\n")
    status = answer.split(b" ", 2)[1]
    assert status == b"431" if end > MAX_HEAD_BYTES else status in (b"400", b"403"), (end, answer[:40])


# --- the webhook sender: a URL ----------------------------------------------------------------------

urls = st.one_of(
    nasty,
    st.builds(
        lambda scheme, user, host, port, path: f"{scheme}://{user}{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTPS", "ftp"]),
        st.sampled_from(["", "u:p@", "@"]),
        hosts | any_address.map(lambda a: f"[{a}]" if a.version == 6 else str(a)),
        ports,
        paths,
    ),
    st.sampled_from(["http://host:99999/", "http://[::1", "http://:80/", "https://[fe80::1%25eth0]/", "http://a..b/"]),
)


@given(urls, st.lists(answer_texts, max_size=3), policies)
@example("http://host:99999/", ["93.184.216.34"], EgressPolicy())  # ValueError escaped the sender
@example("http://host:0/", ["93.184.216.34"], EgressPolicy())
@example("http://[::1/", ["93.184.216.34"], EgressPolicy())
def test_a_pinned_request_goes_to_an_allowed_address_or_is_refused(
    url: str, answers: list[str], policy: EgressPolicy
) -> None:
    async def resolve(name: str, port: int) -> list[str]:
        return answers

    try:
        target = asyncio.run(pinned(url, policy, resolve))
    except EgressRefused:
        return
    address = ip_literal(target.url.raw_host or "")
    assert address is not None and not policy.refuses(address)
    assert target.url.scheme in ("http", "https") and "@" not in target.host_header
    assert (target.server_hostname is None) == (target.url.scheme == "http")
    assert target.url.port is not None and 0 < target.url.port < 65536


class NoReceiver:
    """A client session whose every POST fails to connect, noting where it was to go."""

    def __init__(self) -> None:
        self.posts: list[Any] = []

    def post(self, url: Any, **kwargs: object) -> Any:
        self.posts.append(url)
        raise aiohttp.ClientConnectionError("no receiver here")


EVENT = PendingEvent(
    seq=1, recorded_at=0.0, event={"id": "e1", "type": "dev.streamops.stream.active", "source": "/s"}, pending=["u1"]
)


@given(urls.filter(lambda u: u.startswith(("http://", "https://"))))
@example("http://host:99999/")
@example("http://a..b/")
def test_a_webhook_url_the_api_takes_ends_in_a_recorded_failure_never_an_exception(url: str) -> None:
    """Before, a URL the API takes but yarl does not (a port past 65535) raised ValueError out of
    the delivery lane, which the subscription started again at once: a busy loop of the operator."""
    try:
        spec = StreamWebhookSpec.model_validate({"url": url, "secretRef": {"name": "s"}, "timeoutSeconds": 5})
    except ValueError:
        return
    sub = Subscription(uid="u1", namespace="ns", name="hooks", generation=1, spec=spec)
    state = SimpleNamespace(settings=OperatorSettings())

    async def private(name: str, port: int) -> list[str]:
        return ["10.0.0.1"]

    session = NoReceiver()
    sender = SubscriptionDelivery(sub, None, store=None, state=state, session=session, resolve=private)  # type: ignore[arg-type]
    assert asyncio.run(sender._send(EVENT, [b"secret"])) is False
    failure = sender.record.last_failure
    assert failure is not None and failure["httpStatus"] is None
    for target in session.posts:  # a literal public address: tried, and at that address only
        assert not DEFAULT.refuses(ipaddress.ip_address(target.raw_host))
    assert (failure["error"] == REFUSED) == (not session.posts)
