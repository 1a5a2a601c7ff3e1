"""The STUN/TURN servers that WebRTC clients get (IngestConfig.webrtc.ice_servers_file: the Secret key
that playback.webrtc.iceServersSecretRef names, mounted as a file). `parse_ice_servers`,
`issue_servers` and `link_values` are pure: RTCIceServer JSON in (an entry with a static
`username`/`credential`, or with an `authSecret` shared with the TURN server, from which a
short-lived credential is derived per session: the TURN REST API scheme of coturn's
`use-auth-secret`), the servers handed to one client and RFC 9725 §4.6 `Link: <turn:…>;
rel="ice-server"; username=…; credential=…; credential-type="password"` values out. Only a request
that passed the playback gate or WHIP's auth gets credentials (routes.py); anyone gets the STUN
URIs. `IceServersFile` reads the file again whenever it changes (the kubelet swaps a rotated Secret
in); a missing or invalid file gives no servers and one error in the log per change. No credential
or secret, nor any other value of the file, is ever in a log line, an error or status: errors name
the entry and the field only. Why: docs/design/webrtc.md ("TURN for clients behind closed networks").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streamops.media.ingest.player.page import IceServer, stun_only

MAX_FILE_BYTES = 64 * 1024
MAX_SERVERS = 16
MAX_URLS = 32  # in all: one Link header each
MAX_FIELD_CHARS = 1024
# RFC 7064 (stun, stuns) and RFC 7065 (turn, turns): scheme:host[:port], turn[s] with an optional
# ?transport=udp|tcp. Nothing else: browsers refuse other forms (the peer connection throws), and
# what goes into a Link header's <…> must hold no '>', quote, comma or space.
_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)"
_URL = re.compile(rf"(?P<scheme>stuns?|turns?):{_HOST}(:(?P<port>[0-9]{{1,5}}))?(?P<query>\?transport=(udp|tcp))?")
# What a quoted-string carries safely in an HTTP header: printable ASCII (" and \ escaped).
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
FIELDS = ("urls", "username", "credential", "credentialType", "authSecret", "ttlSeconds")
FORMAT = (
    'a JSON list of RTCIceServer objects: [{"urls": ["turn:turn.example.com:3478?transport=udp"], '
    '"username": "...", "credential": "..."}], or with a TURN REST API secret instead of the username '
    'and credential: {"urls": [...], "authSecret": "...", "ttlSeconds": 600}'
)
# A derived credential lets its holder open TURN allocations for this long (coturn checks the
# expiry when an allocation is made, never ends one: a session outlives it). Short: a credential
# copied out of a page is useless soon; long enough for a player to retry a few times.
DEFAULT_TTL_SECONDS = 600
MIN_TTL_SECONDS, MAX_TTL_SECONDS = 60, 86400
MIN_SECRET_CHARS = 16  # coturn takes any; a short shared secret would be guessable offline from one credential
SESSION_CHARS = re.compile(r"[A-Za-z0-9_-]{1,64}")  # no ':' (coturn's separator) in the session part


class IceServersError(ValueError):
    """Why the file gives no servers: never a value from it."""


def _url(url: object, where: str) -> str:
    if not isinstance(url, str) or len(url) > MAX_FIELD_CHARS:
        raise IceServersError(f"{where} is not a string of at most {MAX_FIELD_CHARS} characters")
    match = _URL.fullmatch(url)
    if match is None:
        raise IceServersError(
            f"{where} is not a stun:, stuns:, turn: or turns: URI (scheme:host[:port], turn with an optional "
            "?transport=udp or tcp; no user or password in it)"
        )
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise IceServersError(f"{where}: the port is not 1..65535")
    if match.group("query") and not match.group("scheme").startswith("turn"):
        raise IceServersError(f"{where}: ?transport= is for turn: and turns: URIs only")
    return url


def _text(entry: dict[str, object], field: str, where: str) -> str | None:
    value = entry.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS or not _PRINTABLE.fullmatch(value):
        raise IceServersError(
            f"{where}.{field} is not a string of at most {MAX_FIELD_CHARS} printable ASCII characters"
        )
    return value


@dataclass(frozen=True)
class IceServerEntry:
    """One entry of the file: its URIs with a static credential, or with `auth_secret`, from which
    `issue` derives a credential per session. Never handed to a client as it is."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)
    auth_secret: str | None = field(default=None, repr=False)
    ttl_seconds: int = DEFAULT_TTL_SECONDS

    def issue(self, session: str, now: float, not_after: int | None = None) -> IceServer:
        """The server as one client gets it: with an `auth_secret`, a credential for `session` that
        expires in `ttl_seconds` (or at `not_after`, Unix seconds, when that is sooner)."""
        if self.auth_secret is None:
            return IceServer(self.urls, self.username, self.credential)
        expires = int(now) + self.ttl_seconds
        if not_after is not None:
            expires = min(expires, not_after)
        username, credential = turn_rest_credential(self.auth_secret, expires, session)
        return IceServer(self.urls, username, credential)


def turn_rest_credential(secret: str, expires: int, session: str) -> tuple[str, str]:
    """The TURN REST API credential coturn checks with `--use-auth-secret --static-auth-secret`:
    username `<expiry, Unix seconds>:<session>`, credential base64(HMAC-SHA1(secret, username))."""
    if not SESSION_CHARS.fullmatch(session):
        raise ValueError("a session id is 1-64 characters of A-Z a-z 0-9 _ -")
    username = f"{expires}:{session}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def new_session_id() -> str:
    """A session id for a credential handed out before any WebRTC session exists (a page, OPTIONS)."""
    return secrets.token_hex(8)


def issue_servers(
    entries: tuple[IceServerEntry, ...], session: str, now: float, not_after: int | None = None
) -> tuple[IceServer, ...]:
    """What a client that may use the relays gets (`IceServerEntry.issue` of each entry)."""
    return tuple(entry.issue(session, now, not_after) for entry in entries)


def public_servers(entries: tuple[IceServerEntry, ...]) -> tuple[IceServer, ...]:
    """What anyone gets: the STUN URIs, no credential (page.stun_only)."""
    return stun_only(tuple(IceServer(entry.urls) for entry in entries))


def _ttl(entry: dict[str, object], where: str) -> int:
    ttl = entry.get("ttlSeconds", DEFAULT_TTL_SECONDS)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
        bounds = f"{MIN_TTL_SECONDS}..{MAX_TTL_SECONDS}"
        raise IceServersError(f"{where}.ttlSeconds is not a whole number of seconds {bounds}")
    return ttl


def _server(entry: object, where: str) -> IceServerEntry:
    if not isinstance(entry, dict):
        raise IceServersError(f"{where} is not an object")
    unknown = sorted(str(k) for k in entry if k not in FIELDS)
    if unknown:
        raise IceServersError(f"{where} has unknown fields {', '.join(unknown)[:200]} (known: {', '.join(FIELDS)})")
    raw = entry.get("urls")
    listed = [raw] if isinstance(raw, str) else raw
    if not isinstance(listed, list) or not listed:
        raise IceServersError(f"{where}.urls is missing: a URI or a non-empty list of them")
    urls = tuple(_url(url, f"{where}.urls[{i}]") for i, url in enumerate(listed))
    username, credential = _text(entry, "username", where), _text(entry, "credential", where)
    kind = entry.get("credentialType", "password")
    if kind != "password":
        raise IceServersError(f'{where}.credentialType: only "password" is supported')
    secret = _text(entry, "authSecret", where)
    if secret is not None:
        if username is not None or credential is not None:
            raise IceServersError(f"{where}: authSecret derives the username and credential: give neither")
        if len(secret) < MIN_SECRET_CHARS:
            raise IceServersError(f"{where}.authSecret is shorter than {MIN_SECRET_CHARS} characters")
        return IceServerEntry(urls, auth_secret=secret, ttl_seconds=_ttl(entry, where))
    if "ttlSeconds" in entry:
        raise IceServersError(f"{where}.ttlSeconds is for an authSecret entry")
    if any(url.startswith("turn") for url in urls) and (username is None or credential is None):
        # Browsers refuse such a server: the whole peer connection would fail to be created.
        raise IceServersError(f"{where}: turn: and turns: URIs need a username and a credential, or an authSecret")
    return IceServerEntry(urls, username, credential)


def parse_ice_servers(text: str) -> tuple[IceServerEntry, ...]:
    """The entries of RTCIceServer JSON (`FORMAT`); raises IceServersError saying where it is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        # The position only: e.msg and e.doc could quote the file's content.
        raise IceServersError(f"not JSON (line {e.lineno}, column {e.colno}): expected {FORMAT}") from None
    except (RecursionError, ValueError):  # nested past the parser's stack, a number of over 4300 digits
        raise IceServersError(
            f"not JSON this server reads (too deep, or too long a number): expected {FORMAT}"
        ) from None
    if not isinstance(value, list):
        raise IceServersError(f"not a list: expected {FORMAT}")
    if len(value) > MAX_SERVERS:
        raise IceServersError(f"{len(value)} servers: at most {MAX_SERVERS}")
    servers = tuple(_server(entry, f"[{i}]") for i, entry in enumerate(value))
    if sum(len(s.urls) for s in servers) > MAX_URLS:
        raise IceServersError(f"more than {MAX_URLS} URIs in all")
    return servers


def _quoted(value: str) -> str:
    """An RFC 9110 quoted-string (the value is printable ASCII: parse_ice_servers checks)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link_values(servers: tuple[IceServer, ...]) -> list[str]:
    """One `Link` header value per URI (RFC 9725 §4.6); a turn[s] URI with its long-term credential."""
    values: list[str] = []
    for server in servers:
        for url in server.urls:
            value = f'<{url}>; rel="ice-server"'
            if url.startswith("turn") and server.username is not None and server.credential is not None:
                value += (
                    f"; username={_quoted(server.username)}; credential={_quoted(server.credential)}"
                    '; credential-type="password"'
                )
            values.append(value)
    return values


FileId = tuple[str, int, int, int, int]  # resolved path, device, inode, mtime (ns), size


def _identity(path: str) -> FileId:
    real = os.path.realpath(path)
    st = os.stat(real)
    return real, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


@dataclass(frozen=True)
class _Read:
    seen: FileId | None
    entries: tuple[IceServerEntry, ...]
    problem: str | None


class IceServersFile:
    """The servers of the mounted file as it is now (read again when its identity changes: the
    kubelet's symlink swap gives a new inode and mtime), cached between changes. What a client gets
    is issued at each ask: `servers_for`/`links_for` with credentials (derived for the session),
    `public_servers`/`public_links` without (STUN only)."""

    def __init__(self, path: str | None, log: logging.Logger, clock: Callable[[], float] = time.time) -> None:
        self.path, self.log, self.clock = path, log, clock
        self._read = _Read(None, (), None)

    @property
    def servers(self) -> tuple[IceServer, ...]:
        """With credentials, for a new session (the player page: it passed the playback gate)."""
        return self.servers_for(new_session_id())

    def servers_for(self, session: str, not_after: int | None = None) -> tuple[IceServer, ...]:
        """With credentials for `session`, expiring at `not_after` at the latest (a playback token's end)."""
        return issue_servers(self._current().entries, session, self.clock(), not_after)

    def links_for(self, session: str, not_after: int | None = None) -> tuple[str, ...]:
        """The `Link` header values, with credentials, for a request that passed the gate or WHIP's auth."""
        return tuple(link_values(self.servers_for(session, not_after)))

    @property
    def public_servers(self) -> tuple[IceServer, ...]:
        return public_servers(self._current().entries)

    @property
    def public_links(self) -> tuple[str, ...]:
        """The `Link` header values anyone gets: STUN URIs only."""
        return tuple(link_values(self.public_servers))

    @property
    def problem(self) -> str | None:
        """Why clients get no servers although a file is configured (status.webrtc.iceServersProblem)."""
        return self._current().problem

    def _current(self) -> _Read:
        if self.path is None:
            return self._read
        try:
            seen: FileId | None = _identity(self.path)
        except FileNotFoundError:
            seen = None
        except OSError as e:
            return self._update(None, f"cannot read {self.path}: {e.strerror or type(e).__name__}")
        if seen is not None and seen == self._read.seen:
            return self._read
        if seen is None:
            return self._update(
                None, f"{self.path} is missing: no such Secret or key (playback.webrtc.iceServersSecretRef)"
            )
        try:
            with open(seen[0], "rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                raise IceServersError(f"larger than {MAX_FILE_BYTES // 1024} KiB")
            entries = parse_ice_servers(data.decode("utf-8", errors="strict"))
        except UnicodeDecodeError:
            return self._update(seen, f"{self.path}: not UTF-8")
        except IceServersError as e:
            return self._update(seen, f"{self.path}: {e}")
        except OSError as e:
            return self._update(None, f"cannot read {self.path}: {e.strerror or type(e).__name__}")
        return self._update(seen, None, entries)

    def _update(self, seen: FileId | None, problem: str | None, entries: tuple[IceServerEntry, ...] = ()) -> _Read:
        before = self._read
        self._read = _Read(seen, entries, problem[:512] if problem else None)
        if problem is not None and problem != before.problem:
            self.log.error("WebRTC clients get no STUN/TURN servers: %s", problem)
        elif problem is None and (before.problem is not None or entries != before.entries):
            urls = sum(len(e.urls) for e in entries)
            derived = sum(1 for e in entries if e.auth_secret is not None)
            self.log.info(
                "WebRTC clients get %d STUN/TURN server URIs from %s (%d entries with credentials derived per session)",
                urls,
                self.path,
                derived,
            )
        return self._read
