"""The TURN credentials the ingest derives from an `authSecret` entry (issue 37, finding 5) against a
real coturn (Debian's `turnserver`) running the TURN REST API (`--use-auth-secret
--static-auth-secret`): the derived credential allocates a relay; an expired one, one of another
secret and one whose username was altered do not. The TURN client is a minimal RFC 5766 Allocate over
UDP (long-term credentials, MESSAGE-INTEGRITY), written here so that nothing but coturn judges the
credential.

Confined: coturn listens and relays on 127.0.0.1 only, on a port found free, without configuration
file, TLS, DTLS, CLI or RFC 5780 listeners; its pid file, database and log in the test's directory;
stopped by PID (the _Peer base)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import IO

import pytest
from devtools.media.peers import _Peer
from devtools.media.turn_server import turnserver_available
from devtools.ports import LOOPBACK, free_port, tcp_accepts
from devtools.waits import wait_for
from streamops.media.ingest.webrtc.ice_servers import parse_ice_servers, turn_rest_credential

REALM = "streamops.test"
AUTH_SECRET = "shared-secret-" + os.urandom(8).hex()

pytestmark = pytest.mark.skipif(not turnserver_available(), reason="needs coturn's turnserver (hack/deps.sh)")


class RestApiTurnServer(_Peer):
    """coturn on 127.0.0.1:`port` checking TURN REST API credentials made with `secret`."""

    def __init__(self, workdir: Path, secret: str) -> None:
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir / "turnserver.log")
        self.secret, self.port = secret, free_port("udp")

    def command(self) -> list[str]:
        return [
            "turnserver", "-n",
            "--listening-ip", LOOPBACK, "--relay-ip", LOOPBACK, "--listening-port", str(self.port),
            "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm", REALM,
            "--no-tls", "--no-dtls", "--no-cli", "--no-rfc5780", "--no-multicast-peers", "--no-software-attribute",
            "--pidfile", str(self.dir / "turnserver.pid"), "--userdb", str(self.dir / "turndb"),
            "--log-file", "stdout", "--simple-log", "--verbose",
        ]  # fmt: skip

    def _stdout(self) -> IO[bytes]:
        return open(self.log_path, "ab")

    def _ready(self) -> None:
        wait_for(lambda: tcp_accepts(self.port), timeout=15, interval=0.1, what=f"turnserver on {self.port}")


# --- a minimal TURN Allocate (RFC 5389 / 5766) --------------------------------------------------------
COOKIE = 0x2112A442
ALLOCATE, ALLOCATE_OK, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM_ATTR, NONCE, REQUESTED_TRANSPORT = 0x6, 0x8, 0x9, 0x14, 0x15, 0x19
UDP = 17


def attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def message(kind: int, transaction: bytes, attributes: bytes, key: bytes | None = None) -> bytes:
    if key is None:
        return struct.pack("!HHI", kind, len(attributes), COOKIE) + transaction + attributes
    # MESSAGE-INTEGRITY covers the header with the length counting the integrity attribute itself.
    header = struct.pack("!HHI", kind, len(attributes) + 24, COOKIE) + transaction
    mac = hmac.new(key, header + attributes, hashlib.sha1).digest()
    return header + attributes + attribute(MESSAGE_INTEGRITY, mac)


def parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length = struct.unpack("!HH", data[:4])
    found, at = {}, 20
    while at < 20 + length:
        attr, size = struct.unpack("!HH", data[at : at + 4])
        found.setdefault(attr, data[at + 4 : at + 4 + size])
        at += 4 + size + (-size % 4)
    return kind, found


def allocate(port: int, username: str, credential: str) -> int:
    """The result of an authenticated Allocate: 200, or the error code (401 for a refused credential)."""
    transport = attribute(REQUESTED_TRANSPORT, bytes([UDP, 0, 0, 0]))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(3)
        sock.sendto(message(ALLOCATE, os.urandom(12), transport), (LOOPBACK, port))
        kind, challenge = parse(sock.recv(2048))
        assert kind == ALLOCATE_ERROR and challenge[ERROR_CODE][2:4] == bytes([4, 1]), "a 401 with realm and nonce"
        realm, nonce = challenge[REALM_ATTR], challenge[NONCE]
        key = hashlib.md5(username.encode() + b":" + realm + b":" + credential.encode()).digest()
        attributes = transport + attribute(USERNAME, username.encode()) + attribute(REALM_ATTR, realm)
        sock.sendto(message(ALLOCATE, os.urandom(12), attributes + attribute(NONCE, nonce), key), (LOOPBACK, port))
        kind, answer = parse(sock.recv(2048))
    if kind == ALLOCATE_OK:
        return 200
    code = answer[ERROR_CODE]
    return code[2] * 100 + code[3]


def test_a_derived_credential_allocates_and_an_expired_or_forged_one_does_not(tmp_path: Path):
    (entry,) = parse_ice_servers(json.dumps([{"urls": ["turn:127.0.0.1:3478"], "authSecret": AUTH_SECRET}]))
    with RestApiTurnServer(tmp_path / "turn", AUTH_SECRET) as turn:
        issued = entry.issue("feedbeef", now=time.time())
        assert issued.username and issued.credential
        assert allocate(turn.port, issued.username, issued.credential) == 200, turn.log_path.read_text()[-2000:]
        # Capped by a token's end that is still ahead: still a valid credential.
        capped = entry.issue("feedbeef", now=time.time(), not_after=int(time.time()) + 30)
        assert allocate(turn.port, capped.username or "", capped.credential or "") == 200

        expired = turn_rest_credential(AUTH_SECRET, int(time.time()) - 5, "feedbeef")
        assert allocate(turn.port, *expired) == 401
        forged = turn_rest_credential("another-secret-of-16-chars", int(time.time()) + 600, "feedbeef")
        assert allocate(turn.port, *forged) == 401
        later, _ = turn_rest_credential(AUTH_SECRET, int(time.time()) + 86400, "feedbeef")
        assert allocate(turn.port, later, issued.credential) == 401, "the expiry is signed: it cannot be moved"
        log = turn.log_path.read_text(errors="replace")
        assert log.count("ALLOCATE processed, success") == 2, log[-2000:]
