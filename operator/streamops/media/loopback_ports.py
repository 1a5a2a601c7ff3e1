"""Free ports on 127.0.0.1 for a worker's own children (FFmpeg's internal RTMP listener, the WebRTC
component's control API and RTP ports). Probed by binding port 0: racy by nature (anyone may take
the port before the child binds it), so whoever starts a child on one retries with a new pick when
the child cannot bind it.
"""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_rtp_port(taken: set[int]) -> int:
    """A UDP port free on 127.0.0.1 whose next one is free too (RTP's port + 1 is RTCP: FFmpeg and
    the WebRTC component bind both), neither in `taken`; both are added to `taken`."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        pair = {port, port + 1}
        if port < 65535 and not pair & taken and _udp_free(port + 1):
            taken |= pair
            return port
    raise OSError("no free pair of UDP ports on 127.0.0.1")
