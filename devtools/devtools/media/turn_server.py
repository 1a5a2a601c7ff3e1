"""A TURN server (Debian's coturn, `turnserver`) for the browser tests of the ingest's STUN/TURN
servers (playback.webrtc.iceServersSecretRef): a relay that Chromium, told to use relays only
(`iceTransportPolicy: 'relay'`, the player page's ?ice=relay), reaches the ingest's WebRTC component
through.

Confined: run in the test's network namespace (only `lo`), it listens and relays on 127.0.0.1 only
(`--listening-ip`, `--relay-ip`; relaying to loopback peers needs `--allow-loopback-peers`), with
long-term credentials given on its command line (a test's throw-away user), no configuration file
(`-n`), no TLS/DTLS listeners, no CLI, its pid file and user database in the test's directory (never
/etc/turnserver.conf or /var/lib/turn). Its system service is never started (hack/deps.sh forbids
service starts while installing). stop() ends it by PID (the _Peer base).

    with TurnServer(tmp_path / "turn", netns=ns) as turn:
        servers = [turn.ice_server()]  # {"urls": ["turn:127.0.0.1:<port>?transport=udp"], ...}
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import IO, Any

from devtools.media.peers import _Peer
from devtools.ports import LOOPBACK, free_port, tcp_accepts
from devtools.waits import wait_for

TURNSERVER = "turnserver"
REALM = "streamops.test"


def turnserver_available() -> bool:
    return shutil.which(TURNSERVER) is not None


class TurnServer(_Peer):
    """coturn on 127.0.0.1:`port` (UDP, and TCP for the readiness check) in `netns`, one user."""

    def __init__(
        self, workdir: str | os.PathLike[str], *, netns: str, username: str = "viewer", credential: str = "turn-pass"
    ) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "turnserver.log", netns=netns)
        self.username, self.credential = username, credential
        with self._where():  # a port free in the namespace it runs in
            self.port = free_port("udp")

    def ice_server(self) -> dict[str, Any]:
        """The RTCIceServer JSON of this relay (UDP to the server)."""
        url = f"turn:{LOOPBACK}:{self.port}?transport=udp"
        return {"urls": [url], "username": self.username, "credential": self.credential}

    def command(self) -> list[str]:
        return [
            TURNSERVER,
            "-n",  # no configuration file
            "--listening-ip",
            LOOPBACK,
            "--relay-ip",
            LOOPBACK,
            "--listening-port",
            str(self.port),
            "--allow-loopback-peers",
            "--no-multicast-peers",
            "--lt-cred-mech",
            "--user",
            f"{self.username}:{self.credential}",
            "--realm",
            REALM,
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-software-attribute",
            "--pidfile",
            str(self.dir / "turnserver.pid"),
            "--userdb",
            str(self.dir / "turndb"),
            "--log-file",
            "stdout",
            "--simple-log",
            "--verbose",
        ]

    def _stdout(self) -> IO[bytes] | int:
        return open(self.log_path, "ab")  # coturn logs to stdout with --log-file stdout; closed in stop()

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            with self._where():
                return tcp_accepts(self.port)

        wait_for(up, timeout=15, interval=0.1, what=f"turnserver on {LOOPBACK}:{self.port}")

    def relayed(self) -> int:
        """How many relay allocations coturn has logged so far (its log: 'ALLOCATE ... success')."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return len(re.findall(r"ALLOCATE processed, success", text))
