"""Reading an FFmpeg output pipe in batches, on a thread of its own: what arrived within `interval`
(20 ms) comes as one chunk, handed to the event loop in one callback, instead of one loop round per
FFmpeg write (it flushes the feed after every packet). Costs up to `interval` of added latency.
The thread drains the pipe whatever the loop is doing: when viewers keep the loop busy, FFmpeg
must never block on a full pipe, which would slow every output of the session at once (the
feed of the recorders and pushers, HLS, LL-HLS).
Why: docs/design/lean-ingest.md ("Fewer wakes"), docs/design/playback.md ("Viewer load and the recorder").
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import threading
import time
from collections.abc import Callable

BATCH_SECONDS = 0.02
# The pipe holds what arrives between two batches: 1 MiB (Linux's limit for an unprivileged process)
# is 400 ms at 20 Mbit/s. Pipe pages are allocated as they fill, so an empty pipe costs nothing.
PIPE_BYTES = 1 << 20
READ_BYTES = 1 << 18
# Read but not yet taken by the loop: past this the thread stops reading (FFmpeg then waits) rather
# than hold more. 64 MiB ≈ 200 s of a 2.5 Mbit/s feed: only a loop that stopped reaches it.
MAX_PENDING_BYTES = 64 << 20


def _read_available(fd: int) -> tuple[bytes, bool]:
    """(what the pipe holds now, whether its writer has closed it)."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return b"".join(chunks), False
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        if len(chunk) < READ_BYTES:
            return b"".join(chunks), False


class PipeReader:
    """Reads `fd` (a pipe's read end; the caller closes it, after `stop()` or `ended`) until EOF on a
    thread, handing `on_chunk`, on the event loop, the first bytes at once after a pause, then what
    gathered during each `interval` (0: each read at once). `ended` resolves at EOF (or an error,
    which it carries: the consumer's, raised from `on_chunk`)."""

    def __init__(self, fd: int, on_chunk: Callable[[bytes], None], interval: float = BATCH_SECONDS) -> None:
        self.fd, self.on_chunk, self.interval = fd, on_chunk, interval
        self.loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[None] = self.loop.create_future()
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError):  # not a pipe, or over the limit: the default size works, later
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._wake_r, self._wake_w = os.pipe()  # stop() wakes the thread's select() with it
        self._stopping = False
        self._pending = 0  # bytes read, not yet handed over (the thread adds, the loop subtracts)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"pipe-{fd}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping:
                ready, _, _ = select.select([self.fd, self._wake_r], [], [])
                if self._stopping or self._wake_r in ready:
                    return
                with self._lock:
                    full = self._pending >= MAX_PENDING_BYTES
                if full:
                    time.sleep(self.interval or BATCH_SECONDS)
                    continue
                data, eof = _read_available(self.fd)
                if data:
                    with self._lock:
                        self._pending += len(data)
                    self.loop.call_soon_threadsafe(self._deliver, data)
                if eof:
                    self.loop.call_soon_threadsafe(self._end, None)
                    return
                if data and self.interval:
                    time.sleep(self.interval)  # let the next packets gather
        except (OSError, RuntimeError) as e:  # the fd went away under us, or the loop closed
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._end, e)

    def _deliver(self, data: bytes) -> None:
        with self._lock:
            self._pending -= len(data)
        if self.ended.done():
            return  # stopped: what was still on its way is dropped, as a stopped reader reads no more
        try:
            self.on_chunk(data)
        except Exception as e:  # the consumer's failure ends the reading, as in a task
            self._end(e)
            self.stop()

    def _end(self, error: BaseException | None) -> None:
        if not self.ended.done():
            if error is None:
                self.ended.set_result(None)
            else:
                self.ended.set_exception(error)

    def stop(self) -> None:
        """No more reading (before the caller closes `fd`): the thread is gone when this returns."""
        self._end(None)
        if not self._stopping:
            self._stopping = True
            os.write(self._wake_w, b"x")
            if threading.current_thread() is not self._thread:
                self._thread.join()
            os.close(self._wake_r)
            os.close(self._wake_w)
