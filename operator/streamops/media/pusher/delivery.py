"""Whether bytes reach the push target, and when (monotonic seconds): for rtmp(s) what the target
read, from its socket's kernel counters (tcp_info.py: acknowledged bytes and the receive window's
edge), else what FFmpeg wrote; `live` (bytes within LIVE_WINDOW_SECONDS) and the watchdog that
kills a run whose target never took or stopped taking data.
Why: docs/design/restream-accounting.md ("`live`: bytes that reached the target").
"""

from __future__ import annotations

from collections.abc import Sequence

from streamops.contract.pusher import STALL_SECONDS
from streamops.media.pusher.tcp_info import TcpCounters, process_tcp, socket_counters

LIVE_WINDOW_SECONDS = 2.0  # "live": bytes reached the target this recently
CONNECT_SECONDS = 20.0  # no byte out this long after start: give up (probe 2 s + connect 5 s + slack)
TCP_SCHEMES = ("rtmp", "rtmps")  # targets whose delivery the kernel's TCP counters show


def watchdog(
    started: float, first_byte: float | None, last_byte: float | None, now: float, stall: float = STALL_SECONDS
) -> str | None:
    """Why a running FFmpeg must be killed as a target failure, or None: nothing reached the target
    in CONNECT_SECONDS, or a live link sent nothing for `stall` seconds (the config's stallSeconds;
    monotonic seconds)."""
    if first_byte is None:
        return f"no data reached the target within {CONNECT_SECONDS:g} s" if now - started > CONNECT_SECONDS else None
    if last_byte is not None and now - last_byte > stall:
        return f"the target stopped taking data for {stall:g} s"
    return None


def is_live(last_byte_at: float | None, now: float, window: float = LIVE_WINDOW_SECONDS) -> bool:
    return last_byte_at is not None and now - last_byte_at <= window


def target_socket(sockets: Sequence[TcpCounters]) -> TcpCounters | None:
    """The target's socket among a push FFmpeg's (an rtmp(s) target): the one that acknowledged the
    most (the feed's carries only our HTTP request, ≈200 bytes, the target's the RTMP handshake,
    3 kB, then the media). None: nothing known."""
    known = [s for s in sockets if s.bytes_acked is not None]
    return max(known, key=lambda s: s.bytes_acked or 0) if known else None


def target_read(acked: int, edge: int | None) -> bool:
    """Whether the target took data between two samples of its socket: `acked` more bytes
    acknowledged by its kernel, the right edge of its receive window `edge` bytes further (None:
    the kernel does not report the window). Acknowledgements alone hold only until the target's
    receive buffer is full, and an autotuned buffer grows to tens of MB (tcp_rmem here allows
    32 MiB): in a CI run under load a SIGSTOPped nginx-rtmp went on acknowledging a 2.5 Mbit/s
    push for more than 30 s. Its window's edge holds when its application stops reading (it moved
    by 2-5 % of the acknowledged bytes, measured on loopback), so the target read when the edge
    moved by at least a quarter of what was acknowledged; a window reopening with nothing new
    acknowledged is a read too."""
    if edge is None:
        return acked > 0
    return edge > 0 and 4 * edge >= acked


class TargetSocket:
    """The target's socket of one FFmpeg run, read every watchdog tick. Found in a dump of the
    process's sockets (the one that acknowledged the most, once media was written: before that it
    could be the feed's), then read by an exact lookup: a dump walks every TCP socket of the network
    namespace, and on a host-network node or in bench-media (50 pushers) that was 87 % of a pusher's
    Python CPU (py-spy)."""

    def __init__(self) -> None:
        self.known: TcpCounters | None = None

    def read(self, pid: int, wrote_media: bool) -> TcpCounters | None:
        if self.known is not None:
            if (now := socket_counters(self.known)) is not None:
                return now
            self.known = None  # closed: look again
        best = target_socket(process_tcp(pid))
        if wrote_media and best is not None and best.bytes_acked:
            self.known = best
        return best


class Delivery:
    """When bytes reached the target during one run (monotonic seconds): read by the target (its
    acknowledgements and receive window, `target_read`) once the kernel reported any counter for
    it, else written by FFmpeg (SRT)."""

    def __init__(self) -> None:
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.by_acks = False
        self._acked = 0
        self._edge: int | None = None  # of the socket `_inode`: another socket's edge is no baseline
        self._inode: int | None = None

    def written(self, now: float) -> None:
        if not self.by_acks:
            self._reached(now)

    def sampled(self, target: TcpCounters | None, now: float, wrote_media: bool) -> None:
        """A sample of the target's socket (None: no TCP socket seen). It counts once FFmpeg wrote
        media: the RTMP handshake alone is not the stream."""
        if target is None or target.bytes_acked is None:
            return
        self.by_acks = True
        if target.inode != self._inode:
            self._edge, self._inode = None, target.inode
        acked, edge = target.bytes_acked, target.window_edge
        moved = None if edge is None or self._edge is None else edge - self._edge
        if wrote_media and target_read(acked - self._acked, moved):
            self._reached(now)
        self._acked = max(self._acked, acked)
        if edge is not None:
            self._edge = max(self._edge or 0, edge)

    def _reached(self, now: float) -> None:
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    def uptime(self) -> float:
        return self.last_at - self.first_at if self.first_at is not None and self.last_at is not None else 0.0
