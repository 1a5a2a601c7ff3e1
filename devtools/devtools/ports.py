"""Free ports on loopback: host processes of the harness listen on 127.0.0.0/8 only."""

from __future__ import annotations

import socket
from typing import Literal

LOOPBACK = "127.0.0.1"


def free_port(kind: Literal["tcp", "udp"] = "tcp") -> int:
    """A port that is free on 127.0.0.1 right now (the kernel picks it; racy only against other binders)."""
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, sock_type) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def tcp_accepts(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def udp_bound(port: int) -> bool:
    """True when some socket is bound to UDP 127.0.0.1:port or 0.0.0.0:port (UDP has no connect to probe)."""
    wanted = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    try:
        with open("/proc/net/udp") as table:
            return any(line.split()[1] in wanted for line in list(table)[1:])
    except OSError:
        return False
