"""The STUN/TURN servers that WebRTC clients get (IngestConfig.webrtc.ice_servers_file: the Secret key
that playback.webrtc.iceServersSecretRef names, mounted as a file). `parse_ice_servers` and
`link_values` are pure: RTCIceServer JSON in, the pages' servers and RFC 9725 §4.6 `Link:
<turn:…>; rel="ice-server"; username=…; credential=…; credential-type="password"` values out.
`IceServersFile` reads the file again whenever it changes (the kubelet swaps a rotated Secret in);
a missing or invalid file gives no servers and one error in the log per change. No credential, nor
any other value of the file, is ever in a log line, an error or status: errors name the entry and
the field only. Why: docs/design/webrtc.md ("TURN for clients behind closed networks").
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass

from streamops.media.ingest.player.page import IceServer

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
FIELDS = ("urls", "username", "credential", "credentialType")
FORMAT = (
    'a JSON list of RTCIceServer objects: [{"urls": ["turn:turn.example.com:3478?transport=udp"], '
    '"username": "...", "credential": "..."}]'
)


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


def _server(entry: object, where: str) -> IceServer:
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
    if any(url.startswith("turn") for url in urls) and (username is None or credential is None):
        # Browsers refuse such a server: the whole peer connection would fail to be created.
        raise IceServersError(f"{where}: turn: and turns: URIs need a username and a credential")
    return IceServer(urls, username, credential)


def parse_ice_servers(text: str) -> tuple[IceServer, ...]:
    """The servers of RTCIceServer JSON (`FORMAT`); raises IceServersError saying where it is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        # The position only: e.msg and e.doc could quote the file's content.
        raise IceServersError(f"not JSON (line {e.lineno}, column {e.colno}): expected {FORMAT}") from None
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
    servers: tuple[IceServer, ...]
    links: tuple[str, ...]
    problem: str | None


class IceServersFile:
    """The servers of the mounted file as it is now (read again when its identity changes: the
    kubelet's symlink swap gives a new inode and mtime), cached between changes."""

    def __init__(self, path: str | None, log: logging.Logger) -> None:
        self.path, self.log = path, log
        self._read = _Read(None, (), (), None)

    @property
    def servers(self) -> tuple[IceServer, ...]:
        return self._current().servers

    @property
    def links(self) -> tuple[str, ...]:
        """The `Link` header values for a WHIP/WHEP answer."""
        return self._current().links

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
            servers = parse_ice_servers(data.decode("utf-8", errors="strict"))
        except UnicodeDecodeError:
            return self._update(seen, f"{self.path}: not UTF-8")
        except IceServersError as e:
            return self._update(seen, f"{self.path}: {e}")
        except OSError as e:
            return self._update(None, f"cannot read {self.path}: {e.strerror or type(e).__name__}")
        return self._update(seen, None, servers)

    def _update(self, seen: FileId | None, problem: str | None, servers: tuple[IceServer, ...] = ()) -> _Read:
        before = self._read
        self._read = _Read(seen, servers, tuple(link_values(servers)), problem[:512] if problem else None)
        if problem is not None and problem != before.problem:
            self.log.error("WebRTC clients get no STUN/TURN servers: %s", problem)
        elif problem is None and (before.problem is not None or servers != before.servers):
            urls = sum(len(s.urls) for s in servers)
            self.log.info("WebRTC clients get %d STUN/TURN server URIs from %s", urls, self.path)
        return self._read
