"""Free ports on 127.0.0.1 for a worker's own children (the RTP ports between FFmpeg and the WebRTC
component; its control API is a unix socket). A port is picked now and bound by a child later (a WHIP
session's FFmpeg binds the component's RTP ports only when a publisher comes, minutes or hours on),
so picks come from outside the kernel's ephemeral range (net.ipv4.ip_local_port_range): the kernel
hands a port in that range to any socket that binds port 0 or connects, a DNS lookup's or an
RTP sender's. A CI run lost a WHIP session to "bind failed: Address already in use" on a port
picked with bind(0) 150 ms before; 1 run in 11 here. Whoever starts a child on a port still
retries with a new pick when the child cannot bind it (another explicit bind may take it).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL = (32768, 60999)  # Linux's default, used when the file cannot be read
LOWEST = 1024  # below: privileged ports
# Enough ports above the ephemeral range to pick from randomly; below it only when there are fewer:
# the test harness's servers and hostNetwork workers take explicit ports below it on a shared host.
ENOUGH_ABOVE = 1000


def ephemeral_range(text: str | None = None) -> tuple[int, int]:
    """The kernel's ephemeral port range (first, last), from `text` or the live sysctl."""
    try:
        first, last = (text if text is not None else EPHEMERAL_RANGE_FILE.read_text()).split()
        return int(first), int(last)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL


def pickable_ports(ephemeral: tuple[int, int]) -> range:
    """Ports the kernel never hands out implicitly: above the ephemeral range when enough are, else
    below it; every unprivileged port when the range leaves none (then a child's bind may still lose)."""
    first, last = ephemeral
    above, below = range(last + 1, 65536), range(LOWEST, max(first, LOWEST))
    if len(above) >= ENOUGH_ABOVE or (above and not below):
        return above
    return below or range(LOWEST, 65536)


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_rtp_port(taken: set[int]) -> int:
    """A UDP port free on 127.0.0.1 whose next one is free too (RTP's port + 1 is RTCP: FFmpeg and
    the WebRTC component bind both), neither in `taken` nor in the ephemeral range; both are added
    to `taken`."""
    ports = pickable_ports(ephemeral_range())
    pairs = range(ports.start, ports.stop - 1)
    for port in random.sample(pairs, min(len(pairs), 200)):
        pair = {port, port + 1}
        if not pair & taken and _free(port, socket.SOCK_DGRAM) and _free(port + 1, socket.SOCK_DGRAM):
            taken |= pair
            return port
    raise OSError(f"no free pair of UDP ports on 127.0.0.1 in {ports.start}-{ports.stop - 1}")
