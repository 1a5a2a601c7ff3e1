"""The live feed: one MPEG-TS stream from the ingest's FFmpeg, fanned out to any number of
consumers (recorders, pushers, the screenshotter) over HTTP.

A consumer that joins gets PAT/PMT and everything since the last video keyframe first (a GOP
cache, as nginx-rtmp does), so its FFmpeg starts on a decodable frame at once. Each consumer has
its own bounded queue: one that falls behind is cut off; the publisher and the others never wait
for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from streamops.media.mpegts import (
    PAT_PID,
    SYNC,
    TS_PACKET,
    packet_pid,
    payload_start,
    pmt_pids,
    random_access,
    video_pid,
)

QUEUE_CHUNKS = 512  # per consumer; ≈ 30 s of a 3 Mbit/s feed read in 8 KiB chunks


@dataclass
class _Consumer:
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_CHUNKS))
    dropped: bool = False


@dataclass
class FeedHub:
    """Fed by `publish(chunk)` with raw TS bytes; read by `subscribe()`."""

    live: bool = False
    bytes_in: int = 0
    consumers_dropped: int = 0
    _consumers: list[_Consumer] = field(default_factory=list)
    _pending: bytes = b""
    _pat: bytes | None = None
    _pmt: bytes | None = None
    _pmt_pids: list[int] = field(default_factory=list)
    _video_pid: int | None = None
    _gop: list[bytes] = field(default_factory=list)

    @property
    def consumers(self) -> int:
        return len(self._consumers)

    def start_session(self) -> None:
        self.end_session()
        self.live = True

    def end_session(self) -> None:
        """The publisher is gone: every consumer's response ends (EOF), caches are dropped."""
        self.live = False
        for consumer in self._consumers:
            self._offer(consumer, None)
        self._consumers.clear()
        self._pending, self._pat, self._pmt, self._pmt_pids, self._video_pid, self._gop = b"", None, None, [], None, []

    def publish(self, chunk: bytes) -> None:
        if not self.live:
            return
        self.bytes_in += len(chunk)
        data = self._pending + chunk
        usable = len(data) - len(data) % TS_PACKET
        self._pending = data[usable:]
        if not usable:
            return
        data = data[:usable]
        keyframe_at = self._scan(data)
        if keyframe_at is None:
            self._gop.append(data)
        else:
            self._gop = [data[keyframe_at:]]
        for consumer in list(self._consumers):
            self._offer(consumer, data)

    def _scan(self, data: bytes) -> int | None:
        """Learn PAT/PMT, and find the last video keyframe in this chunk."""
        keyframe_at = None
        view = memoryview(data)
        for offset in range(0, len(data), TS_PACKET):
            packet = view[offset : offset + TS_PACKET]
            if packet[0] != SYNC or not payload_start(packet):
                continue
            pid = packet_pid(packet)
            if pid == PAT_PID:
                self._pat = bytes(packet)
                self._pmt_pids = pmt_pids(self._pat)
            elif pid in self._pmt_pids:
                self._pmt = bytes(packet)
                self._video_pid = video_pid(self._pmt)
            elif pid == self._video_pid and random_access(packet):
                keyframe_at = offset
        return keyframe_at

    def _offer(self, consumer: _Consumer, chunk: bytes | None) -> None:
        try:
            consumer.queue.put_nowait(chunk)
        except asyncio.QueueFull:
            # Too slow: cut it off rather than buffer without bound or slow anyone else.
            consumer.dropped = True
            self.consumers_dropped += 1
            with contextlib.suppress(ValueError):
                self._consumers.remove(consumer)
            with contextlib.suppress(asyncio.QueueEmpty):
                consumer.queue.get_nowait()
            consumer.queue.put_nowait(None)

    async def subscribe(self) -> AsyncIterator[bytes]:
        """Yield the feed from the last keyframe on, until the session ends or we fall behind."""
        consumer = _Consumer()
        head = b"".join([b for b in (self._pat, self._pmt) if b] + self._gop)
        if head:
            consumer.queue.put_nowait(head)  # one chunk, however long the GOP
        self._consumers.append(consumer)
        try:
            while (chunk := await consumer.queue.get()) is not None:
                yield chunk
        finally:
            with contextlib.suppress(ValueError):
                self._consumers.remove(consumer)
