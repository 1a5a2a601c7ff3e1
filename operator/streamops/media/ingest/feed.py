"""The live feed: one MPEG-TS stream from the ingest's FFmpeg fanned out to any number of readers
(recorders, pushers, the screenshot, a backup's uplink). A joining reader gets PAT/PMT and the cache
first (from the last video keyframe, or an audio frame without video; bounded in bytes and age), so
its FFmpeg starts at once; media after a silence starts a new cache. A reader that falls behind is
cut off; nobody waits for it. Readers are queues (`subscribe()`) or sinks the hub writes to itself
(`attach()`). Why: docs/design/ingest-robustness.md ("The live feed"), lean-ingest.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from streamops.media.mpegts import (
    PAT_PID,
    PTS_CLOCK,
    PTS_WRAP,
    SYNC,
    TS_PACKET,
    packet_pid,
    pes_pts,
    pmt_pids,
    random_access,
    stream_roles,
)

QUEUE_CHUNKS = 512  # per subscriber; ≈ 10 s of a feed read in 20 ms batches (pipe_batches.py)
# Per sink: bytes written but not yet sent. 8 MiB ≈ 27 s of a 2.5 Mbit/s feed, 5 s of 13 Mbit/s.
SINK_BACKLOG_BYTES = 8 << 20
# Cache bounds. A 2 s GOP at 2.5 Mbit/s is ≈625 kB; OBS's default keyframe interval (x264's 250
# frames, 8.3 s at 30 fps) at 6 Mbit/s ≈6.2 MB. 10 s and 16 MiB keep both, and 10 s at 13 Mbit/s.
CACHE_MAX_BYTES = 16 << 20
CACHE_MAX_SECONDS = 10.0
# No media for this long is a silence: the ingest's `live` turns false (IngestWorker.live is the
# feed's `sending`) and the next media starts a fresh cache.
SILENCE_SECONDS = 2.0
# Media after a silence is sending again once it has flowed this long. A frozen publisher's session,
# released at its timeout, flushes what FFmpeg's muxer still held in one burst just before its EOF
# (measured here: `live` for 40 ms, 5.1 s after the freeze): that burst is no publisher coming back.
RESUME_SECONDS = 0.5
# Keyframes further apart than this (by PTS) are a timestamp jump, not an interval.
MAX_KEYFRAME_INTERVAL_SECONDS = 60


class FeedSink(Protocol):
    """A consumer the hub writes to itself, from `publish()`."""

    def send(self, chunk: bytes) -> None: ...

    def backlog(self) -> int:
        """Bytes sent but not yet taken by the reader."""
        ...

    def closed(self) -> bool: ...

    def end(self) -> None:
        """No more chunks: the session ended, or the reader fell behind or went away."""
        ...


@dataclass
class _Consumer:
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_CHUNKS))
    dropped: bool = False


@dataclass
class FeedHub:
    """Fed by `publish(chunk)` with raw TS bytes; read by `subscribe()`."""

    live: bool = False  # a session is on (it may be silent: see `sending`)
    bytes_in: int = 0
    consumers_dropped: int = 0
    max_cache_bytes: int = CACHE_MAX_BYTES
    max_cache_seconds: float = CACHE_MAX_SECONDS
    silence_seconds: float = SILENCE_SECONDS
    clock: Callable[[], float] = time.monotonic
    last_media_at: float | None = None  # clock() of the last chunk published
    resumed_at: float | None = None  # clock() of the first chunk after the last silence, if any
    resume_seconds: float = RESUME_SECONDS
    _consumers: list[_Consumer] = field(default_factory=list)
    _sinks: list[FeedSink] = field(default_factory=list)
    max_sink_backlog: int = SINK_BACKLOG_BYTES
    _pending: bytes = b""
    _pat: bytes | None = None
    _pmt: bytes | None = None
    _pmt_pids: list[int] = field(default_factory=list)
    _video_pid: int | None = None
    _audio_pids: frozenset[int] = frozenset()
    _cache: list[bytes] = field(default_factory=list)  # from a join point on, or empty
    _cache_bytes: int = 0
    _cache_since: float = 0.0  # clock() when its join point arrived
    _cache_keyframe: bool = False  # the join point is a video keyframe (not an audio frame)
    _keyframe_pts: int | None = None  # the last video keyframe's PTS
    keyframe_interval: float = 0.0  # seconds between the last two video keyframes (PTS), 0 before two

    @property
    def consumers(self) -> int:
        return len(self._consumers) + len(self._sinks)

    @property
    def cache_bytes(self) -> int:
        """What a consumer joining now receives first, PAT and PMT left out."""
        return self._cache_bytes

    @property
    def sending(self) -> bool:
        """A session is on and its media flows: nothing for `silence_seconds` is a silence, and media
        after a silence flows again once it has lasted `resume_seconds`."""
        last = self.last_media_at
        if not self.live or last is None or self.clock() - last >= self.silence_seconds:
            return False
        return self.resumed_at is None or last - self.resumed_at >= self.resume_seconds

    def start_session(self) -> None:
        self.end_session()
        self.live = True

    def end_session(self) -> None:
        """The publisher is gone: every consumer's response ends (EOF), caches are dropped."""
        self.live = False
        self.last_media_at = self.resumed_at = None
        for consumer in self._consumers:
            self._offer(consumer, None)
        self._consumers.clear()
        for sink in self._sinks:
            sink.end()
        self._sinks.clear()
        self._pending, self._pat, self._pmt, self._pmt_pids = b"", None, None, []
        self._video_pid, self._audio_pids = None, frozenset()
        self._keyframe_pts, self.keyframe_interval = None, 0.0
        self._drop_cache()

    def _drop_cache(self) -> None:
        self._cache, self._cache_bytes, self._cache_keyframe = [], 0, False

    def _start_cache(self, data: bytes, now: float, keyframe: bool) -> None:
        self._cache, self._cache_bytes = [data], len(data)
        self._cache_since, self._cache_keyframe = now, keyframe

    def publish(self, chunk: bytes) -> None:
        if not self.live:
            return
        now = self.clock()
        if self.last_media_at is not None and now - self.last_media_at >= self.silence_seconds:
            self._drop_cache()  # old news: never served again as if it were new
            self.resumed_at = now
        self.last_media_at = now
        self.bytes_in += len(chunk)
        data = self._pending + chunk
        usable = len(data) - len(data) % TS_PACKET
        self._pending = data[usable:]
        if not usable:
            return
        data = data[:usable]
        keyframe_at, audio_at = self._scan(data)
        fits = (
            self._cache_bytes + len(data) <= self.max_cache_bytes and now - self._cache_since <= self.max_cache_seconds
        )
        if keyframe_at is not None:
            self._start_cache(data[keyframe_at:], now, keyframe=True)
            self._keyframe(pes_pts(data[keyframe_at : keyframe_at + TS_PACKET]))
        elif self._cache_keyframe and fits:
            self._cache.append(data)  # the GOP goes on
            self._cache_bytes += len(data)
        elif audio_at is not None:
            # No video, or a GOP past the bounds: join at the newest audio frame.
            self._start_cache(data[audio_at:], now, keyframe=False)
        elif self._cache and fits:
            self._cache.append(data)
            self._cache_bytes += len(data)
        else:
            self._drop_cache()  # no join point within the bounds: the next keyframe or audio frame makes one
        for consumer in list(self._consumers):
            self._offer(consumer, data)
        for sink in list(self._sinks):
            self._send(sink, data)

    def _keyframe(self, pts: int | None) -> None:
        """The keyframe interval from the PTS of consecutive keyframes (the last one of each chunk:
        chunks are 20 ms batches, shorter than any GOP but an all-intra stream's)."""
        if pts is None:
            return
        if self._keyframe_pts is not None:
            ticks = (pts - self._keyframe_pts) % PTS_WRAP
            if 0 < ticks <= MAX_KEYFRAME_INTERVAL_SECONDS * PTS_CLOCK:  # else a timestamp jump (a restarted encoder)
                self.keyframe_interval = ticks / PTS_CLOCK
        self._keyframe_pts = pts

    def _scan(self, data: bytes) -> tuple[int | None, int | None]:
        """Learn PAT/PMT; find the last video keyframe and the last audio PES start in this chunk."""
        keyframe_at = audio_at = None
        view = memoryview(data)
        for offset in range(0, len(data), TS_PACKET):
            # Only packets that start a PES or a section matter (≈1 in 20 of a 2.5 Mbit/s feed's): the
            # header byte is read in place, the packet sliced only for those (scan 3× cheaper).
            if data[offset + 1] & 0x40 == 0 or data[offset] != SYNC:
                continue
            packet = view[offset : offset + TS_PACKET]
            pid = packet_pid(packet)
            if pid == self._video_pid:
                if random_access(packet):
                    keyframe_at = offset
            elif pid in self._audio_pids:
                audio_at = offset
            elif pid == PAT_PID:
                self._pat = bytes(packet)
                self._pmt_pids = pmt_pids(self._pat)
            elif pid in self._pmt_pids:
                self._learn_pmt(bytes(packet))
        return keyframe_at, audio_at

    def _learn_pmt(self, packet: bytes) -> None:
        roles = stream_roles(packet)
        if roles is None:
            return
        self._pmt = packet
        self._video_pid, self._audio_pids = roles  # an AV1 stream (private data) is video, not audio

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

    def _send(self, sink: FeedSink, chunk: bytes) -> None:
        if sink.closed():
            self.detach(sink)
            sink.end()
        elif sink.backlog() + len(chunk) > self.max_sink_backlog:
            self.consumers_dropped += 1  # too slow: cut it off, as a subscriber's full queue is
            self.detach(sink)
            sink.end()
        else:
            sink.send(chunk)

    def attach(self, sink: FeedSink) -> None:
        """Write the feed to `sink` from the join point on, until the session ends, the sink falls
        `max_sink_backlog` bytes behind or closes (then `sink.end()`), or `detach()`."""
        if head := self.head():
            sink.send(head)
        self._sinks.append(sink)

    def detach(self, sink: FeedSink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    def head(self) -> bytes:
        """What a consumer joining now receives first: PAT, PMT and the cache."""
        return b"".join([b for b in (self._pat, self._pmt) if b] + self._cache)

    async def subscribe(self) -> AsyncIterator[bytes]:
        """Yield the feed from the join point on, until the session ends or we fall behind."""
        consumer = _Consumer()
        if head := self.head():
            consumer.queue.put_nowait(head)  # one chunk, however long the GOP
        self._consumers.append(consumer)
        try:
            while (chunk := await consumer.queue.get()) is not None:
                yield chunk
        finally:
            with contextlib.suppress(ValueError):
                self._consumers.remove(consumer)
