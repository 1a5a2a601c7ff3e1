"""Video frames of an MPEG-TS byte stream, identified by their coded content, with the time each
one arrived: lets a benchmark match the same frame at two points of a chain (copy-only chains
keep the slice data bit-identical) and measure the delay between them."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

from streamops.media.mpegts import PAT_PID, SYNC, TS_PACKET, packet_pid, payload, payload_start, pmt_pids, video_pid


def _slices(pes: bytes) -> bytes:
    """The coded slice NAL units (H.264 types 1 and 5) of one PES payload, without start codes."""
    if len(pes) < 9 or pes[:3] != b"\x00\x00\x01":
        return b""
    data = pes[9 + pes[8] :]
    out = []
    for nal in data.split(b"\x00\x00\x01"):
        nal = nal.rstrip(b"\x00")
        if nal and nal[0] & 0x1F in (1, 5):
            out.append(nal)
    return b"".join(out)


class FrameClock:
    """Feed it TS bytes as they arrive; `arrivals` maps frame digest → monotonic arrival time."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self._pending = b""
        self._pmt: list[int] = []
        self._video: int | None = None
        self._pes = bytearray()

    def feed(self, data: bytes, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        data = self._pending + data
        usable = len(data) - len(data) % TS_PACKET
        self._pending = data[usable:]
        for i in range(0, usable, TS_PACKET):
            packet = data[i : i + TS_PACKET]
            if packet[0] != SYNC:
                continue
            pid = packet_pid(packet)
            start = payload_start(packet)
            if pid == PAT_PID and start:
                self._pmt = pmt_pids(packet)
            elif pid in self._pmt and start:
                self._video = video_pid(packet)
            elif pid == self._video:
                if start and self._pes:
                    self._finish(now)
                self._pes += payload(packet)

    def _finish(self, now: float) -> None:
        coded = _slices(bytes(self._pes))
        self._pes.clear()
        if coded:
            self.arrivals.setdefault(hashlib.blake2b(coded, digest_size=12).hexdigest(), now)


def delays(first: FrameClock, second: FrameClock) -> Iterator[float]:
    """second − first for every frame both saw."""
    for digest, t in second.arrivals.items():
        if digest in first.arrivals:
            yield t - first.arrivals[digest]
