"""Free ports on loopback: host processes of the harness listen on 127.0.0.0/8 only."""

from __future__ import annotations

import itertools
import os
import random
import socket
from typing import Literal

LOOPBACK = "127.0.0.1"

# Test servers get ports below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
# 32768-60999 here) and below the harness's hostNetwork worker ports (20000-32199: cluster/suite.py,
# tests/e2e/node, the demo). A port the kernel picks for bind(0) is also one it hands out as the
# source port of any connect(), so a busy host could take it before the server bound it: a
# two-worker CI run failed an ingest's bind with EADDRINUSE. Each pytest-xdist worker draws from
# its own slice, so two workers never race for one port either.
TEST_PORTS = range(10300, 20000)
_next = itertools.count(random.randrange(1 << 16))


def port_slice() -> range:
    """This process's slice of TEST_PORTS: one per pytest-xdist worker, all of it otherwise."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = len(TEST_PORTS) // max(count, 1)
    return TEST_PORTS[index * size : (index + 1) * size] if count > 1 else TEST_PORTS


def free_port(kind: Literal["tcp", "udp"] = "tcp") -> int:
    """A port free on 127.0.0.1 right now, from this process's slice of TEST_PORTS (see above),
    taken in turn from a random start so that consecutive calls do not hand out one port twice."""
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    ports = port_slice()
    for _ in range(len(ports)):
        port = ports[next(_next) % len(ports)]
        with socket.socket(socket.AF_INET, sock_type) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue  # in use (or a TIME_WAIT a server could bind anyway: skipped all the same)
            return port
    raise OSError(f"no free {kind} port on {LOOPBACK} in {ports.start}-{ports.stop - 1}")


def tcp_accepts(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def udp_bound(port: int, address: str = LOOPBACK) -> bool:
    """True when some socket is bound to UDP `address`:port or 0.0.0.0:port (UDP has no connect to
    probe), in the calling thread's network namespace (netns.entered)."""
    return _in_socket_table("udp", port, address)


def tcp_listening(port: int, address: str = LOOPBACK) -> bool:
    """A TCP socket listens on `address`:port or 0.0.0.0:port in the calling thread's network
    namespace: unlike tcp_accepts' connect, it does not use up an `ffmpeg -listen 1`."""
    return _in_socket_table("tcp", port, address, state="0A")  # 0A: TCP_LISTEN


def _in_socket_table(table: str, port: int, address: str, state: str | None = None) -> bool:
    """A row of /proc/thread-self/net/<table> with that local address (or 0.0.0.0) and port, and
    `state` when given."""
    wanted = {f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}", f"00000000:{port:04X}"}
    try:
        with open(f"/proc/thread-self/net/{table}") as rows:
            return any(
                (fields := line.split())[1] in wanted and (state is None or fields[3] == state)
                for line in list(rows)[1:]
            )
    except OSError:
        return False
