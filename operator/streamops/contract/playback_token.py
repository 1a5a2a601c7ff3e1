"""Signed playback tokens, as the signer (`streamops playback url`) writes them and the verifiers
(the ingest worker; the edge's Lua twin, media/edge/) check them. Format, answers and key files:
docs/design/playback.md, "The contract". Pure: no clock, no files, no I/O.

    v1~<kid>~<exp>~<ip>~<sig>     sig = b64url(HMAC-SHA256(key, "v1~<kid>~<exp>~<ip>~<ns>/<name>"))
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from streamops.api.common import KEYS_SECRET as KEYS_SECRET  # named in the LiveStream's API

VERSION = "v1"
SEPARATOR = "~"
# The path segment that carries a token: <prefix>/t/<token>/<rest>.
TOKEN_SEGMENT = "t"
# Seconds a token is still honoured after its expiry, for clocks a little apart.
CLOCK_SKEW_SECONDS = 5
# A signer uses `previous` until `current` is this old: mounted Secrets reach Pods within about a
# minute (kubelet's sync period), so every verifier has the new key by then.
KEY_PROPAGATION_SECONDS = 120
KEY_BYTES = 32
CURRENT_KEY = "current"
PREVIOUS_KEY = "previous"
ROTATED_AT_ANNOTATION = "streaming.streamops.dev/rotated-at"

_TOKEN = re.compile(r"^v1~([A-Za-z0-9_-]{8})~([0-9]{1,12})~([0-9A-Fa-f.:]{0,45})~([A-Za-z0-9_-]{43})$")


class Refusal(Enum):
    """Why a request is refused: the HTTP status and the body (one line; never the token)."""

    MISSING = (401, "playback of this stream needs a signed URL (streamops playback url)")
    INVALID = (403, "playback token is not valid for this stream")
    EXPIRED = (403, "playback token expired")
    UNKNOWN_KEY = (403, "playback token was signed with a key this stream no longer accepts")
    OTHER_VIEWER = (403, "playback token is restricted to another viewer address")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def body(self) -> str:
        return self.value[1]

    @property
    def reason(self) -> str:
        """The metric label: missing, invalid, expired, unknown_key, other_viewer."""
        return self.name.lower()


@dataclass(frozen=True)
class Token:
    kid: str
    expires: int
    ip: str
    signature: str


def key_id(key: bytes) -> str:
    return _b64(hashlib.sha256(key).digest())[:8]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _signed_text(kid: str, expires: int, ip: str, stream: str) -> bytes:
    return SEPARATOR.join((VERSION, kid, str(expires), ip, stream)).encode()


def sign(key: bytes, stream: str, expires: int, ip: str = "") -> str:
    """A token for `stream` ("<namespace>/<name>") valid until `expires` (Unix seconds), for any
    viewer or only for the client address `ip`."""
    if "/" not in stream:
        raise ValueError("stream is <namespace>/<name>")
    kid = key_id(key)
    signature = _b64(hmac.new(key, _signed_text(kid, expires, ip, stream), hashlib.sha256).digest())
    return SEPARATOR.join((VERSION, kid, str(expires), ip, signature))


def parse(token: str) -> Token | None:
    # fullmatch: `$` alone also matches before a final newline ("<token>%0A" in a path was honoured).
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    kid, expires, ip, signature = match.groups()
    return Token(kid, int(expires), ip, signature)


def verify(token: str | None, keys: list[bytes], stream: str, now: float, client: str) -> Refusal | None:
    """None when `token` lets `client` watch `stream` at `now` with one of `keys` (current and
    previous), else why not. The signature is compared in constant time."""
    if not token:
        return Refusal.MISSING
    parsed = parse(token)
    if parsed is None:
        return Refusal.INVALID
    key = next((k for k in keys if key_id(k) == parsed.kid), None)
    if key is None:
        return Refusal.UNKNOWN_KEY
    expected = _b64(hmac.new(key, _signed_text(parsed.kid, parsed.expires, parsed.ip, stream), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parsed.signature):
        return Refusal.INVALID
    if now >= parsed.expires + CLOCK_SKEW_SECONDS:
        return Refusal.EXPIRED
    if parsed.ip and parsed.ip != client:
        return Refusal.OTHER_VIEWER
    return None


def split_token_path(path: str, prefix: str = "") -> tuple[str | None, str]:
    """(token, path without the token segment) for `<prefix>/t/<token>/<rest>` (or `/t/<token>/<rest>`
    at the root); (None, path) when the path carries no token."""
    for base in dict.fromkeys((prefix, "")):
        head = f"{base}/{TOKEN_SEGMENT}/"
        if path.startswith(head):
            token, slash, rest = path[len(head) :].partition("/")
            if slash and token:
                return token, base + "/" + rest
    return None, path


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The proxies whose X-Forwarded-For is believed (IngestConfig.trusted_proxies)."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    """Whether `address` (a peer's, an X-Forwarded-For entry) is one of the trusted proxies."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)


def client_address(forwarded_for: str | None, peer: str | None, trusted: Sequence[Network] = ()) -> str:
    """The address a token's `ip` restriction, a viewer session and a WHEP rate limit are keyed by,
    as nginx's `set_real_ip_from` + `real_ip_recursive on` decide it: X-Forwarded-For counts only
    when the peer is a trusted proxy, and then its rightmost entry that is not itself one (what the
    last trusted proxy saw). Whatever a client writes further left is its own claim: ignored. An
    entry that is not an address ends the walk at the last trusted hop (fail closed)."""
    client = peer or ""
    if not forwarded_for or not is_trusted(client, trusted):
        return client
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = hop
        if not is_trusted(hop, trusted):
            return hop
    return client


def session_hash(session: str) -> str:
    """What leaves a server for a viewer session: 16 hex characters, no address or token."""
    return hashlib.sha256(session.encode()).hexdigest()[:16]


def session_id(sid: str | None, client: str, user_agent: str | None) -> str:
    """The `_sid` query parameter when present, else the client address and User-Agent."""
    if sid:
        return sid
    return hashlib.sha256(f"{client}\n{user_agent or ''}".encode()).hexdigest()
