"""How far a process's TCP connections got, by the kernel's own counters: `tcp_info` of each socket a
process holds, read through the sock_diag netlink interface (what `ss -ti` shows). Unprivileged
(the sockets of its own network namespace: the Pod's), standard library only. `bytes_acked`
(Linux ≥ 4.1) is what the peer's kernel took; `snd_wnd` (Linux ≥ 5.4) says whether its application
reads (`TcpCounters.window_edge`). Why the pusher needs it: docs/design/restream-accounting.md.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
from dataclasses import dataclass, field

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
INET_DIAG_INFO = 2  # the attribute that carries struct tcp_info
TCP_ESTABLISHED = 1

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_REQ_V2 = struct.Struct("=BBBxI")  # family, protocol, ext, pad, states (then an all-zero inet_diag_sockid)
_SOCKID_SIZE = 48
_DIAG_MSG = struct.Struct("=BBBB2s2s16s16sI8sIIIII")  # inet_diag_msg (ports/addresses big-endian)
_RTATTR = struct.Struct("=HH")
# Offsets in struct tcp_info (include/uapi/linux/tcp.h), present when the kernel's struct is long enough.
_BYTES_ACKED = (120, "=Q")  # Linux 4.1
_NOTSENT = (144, "=I")  # Linux 4.6
_SND_WND = (228, "=I")  # Linux 5.4: the peer's advertised receive window, scaled
_NO_COOKIE = b"\xff" * 8  # INET_DIAG_NOCOOKIE: an exact lookup by addresses alone
_seq = itertools.count(1)


@dataclass(frozen=True)
class TcpCounters:
    """One established TCP socket: its peer, the bytes the peer acknowledged, the bytes written
    but not sent yet, the receive window the peer advertises (None where the kernel does not
    report them)."""

    inode: int
    peer: tuple[str, int]
    bytes_acked: int | None
    notsent: int | None
    snd_wnd: int | None = None
    # Where it is bound and its TCP state: what an exact lookup (`socket_counters`) needs and checks.
    local: tuple[str, int] | None = field(default=None, compare=False)
    state: int = field(default=TCP_ESTABLISHED, compare=False)

    @property
    def window_edge(self) -> int | None:
        """The right edge of the peer's receive window, in bytes of this connection: acknowledged
        plus the window it still offers. The peer's kernel moves it as its application reads and
        does not take back a window it offered, so an application that stopped reading holds it
        still while its kernel goes on acknowledging into the buffer; measured on Linux 6.18 with an 8 MiB buffer,
        it moved by 2-5 % of what was acknowledged while the reader was stopped, and with every
        byte read otherwise."""
        if self.bytes_acked is None or self.snd_wnd is None:
            return None
        return self.bytes_acked + self.snd_wnd

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.peer[0] else socket.AF_INET


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets a process holds (its /proc/<pid>/fd links `socket:[N]`)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    with contextlib.suppress(OSError):
        for fd in os.listdir(fd_dir):
            with contextlib.suppress(OSError):
                link = os.readlink(f"{fd_dir}/{fd}")
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
    return inodes


def _field(info: bytes, where: tuple[int, str]) -> int | None:
    offset, fmt = where
    size = struct.calcsize(fmt)
    return int(struct.unpack_from(fmt, info, offset)[0]) if len(info) >= offset + size else None


def parse_dump(data: bytes) -> tuple[list[TcpCounters], bool]:
    """The sockets in one recv() of a sock_diag dump, and whether the dump is complete."""
    found: list[TcpCounters] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            return found, True  # malformed: stop rather than loop
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            return found, True
        body = data[offset + _NLMSGHDR.size : offset + length]
        if len(body) >= _DIAG_MSG.size:
            family, state, _, _, sport, dport, src, dst, _, _, _, _, _, _, inode = _DIAG_MSG.unpack_from(body)
            size = 4 if family == socket.AF_INET else 16
            address = socket.inet_ntop(family, dst[:size])
            local = (socket.inet_ntop(family, src[:size]), struct.unpack("!H", sport)[0])
            info = b""
            at = _DIAG_MSG.size
            while at + _RTATTR.size <= len(body):
                attr_len, attr_type = _RTATTR.unpack_from(body, at)
                if attr_len < _RTATTR.size:
                    break
                if attr_type == INET_DIAG_INFO:
                    info = body[at + _RTATTR.size : at + attr_len]
                at += (attr_len + 3) & ~3
            peer = (address, struct.unpack("!H", dport)[0])
            counters = _field(info, _BYTES_ACKED), _field(info, _NOTSENT), _field(info, _SND_WND)
            found.append(TcpCounters(inode, peer, *counters, local=local, state=state))
        offset += (length + 3) & ~3
    return found, False


def established_tcp(families: tuple[int, ...] = (socket.AF_INET, socket.AF_INET6)) -> list[TcpCounters]:
    """Every established TCP socket of this network namespace, with its counters."""
    found: list[TcpCounters] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(0.5)  # the kernel answers at once; never hold the event loop long
        for family in families:
            request = _REQ_V2.pack(family, socket.IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 1 << TCP_ESTABLISHED)
            request += bytes(_SOCKID_SIZE)
            seq = next(_seq)
            nl.send(
                _NLMSGHDR.pack(_NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                + request
            )
            done = False
            while not done:
                sockets, done = parse_dump(nl.recv(1 << 16))
                found += sockets
    return found


def socket_counters(known: TcpCounters) -> TcpCounters | None:
    """The counters of one socket now, by an exact sock_diag lookup of its addresses (no dump of
    the namespace); None when it is gone, no longer established, or cannot be read."""
    if known.local is None:
        return None
    family = known.family
    request = _REQ_V2.pack(family, socket.IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 1 << TCP_ESTABLISHED)
    request += struct.pack("!HH", known.local[1], known.peer[1])
    request += socket.inet_pton(family, known.local[0]).ljust(16, b"\0")
    request += socket.inet_pton(family, known.peer[0]).ljust(16, b"\0")
    request += struct.pack("=I", 0) + _NO_COOKIE
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(0.5)
            nl.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, next(_seq), 0)
                    + request)  # fmt: skip
            found, _ = parse_dump(nl.recv(1 << 16))
    except OSError:
        return None
    now = [s for s in found if s.inode == known.inode and s.state == TCP_ESTABLISHED]
    return now[0] if now else None


def process_tcp(pid: int) -> list[TcpCounters]:
    """The established TCP sockets process `pid` holds; empty when they cannot be read (no such
    process, no sock_diag in this kernel or sandbox)."""
    inodes = socket_inodes(pid)
    if not inodes:
        return []
    try:
        return [s for s in established_tcp() if s.inode in inodes]
    except OSError:
        return []
