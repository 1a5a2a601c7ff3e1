"""Reading an FFmpeg output pipe in batches: what arrived within `interval` (20 ms) comes as one chunk,
from a timer callback, instead of one event-loop round per FFmpeg write (it flushes the feed after
every packet). Costs up to `interval` of added latency on the feed.
Why: docs/design/lean-ingest.md ("Fewer wakes").
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable

BATCH_SECONDS = 0.02
# The pipe holds what arrives between two batches: 1 MiB (Linux's limit for an unprivileged process)
# is 400 ms at 20 Mbit/s. Pipe pages are allocated as they fill, so an empty pipe costs nothing.
PIPE_BYTES = 1 << 20
READ_BYTES = 1 << 18


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
    """Reads `fd` (a pipe's read end; the caller closes it) until EOF, handing `on_chunk` the first
    bytes at once after a pause, then what gathered during each `interval`. It is called from the
    event loop's timer (or, after a pause, its reader) callback, so a batch costs one loop round,
    not the two of a task's sleep and wake-up. `ended` resolves at EOF (or an error, which it
    carries)."""

    def __init__(self, fd: int, on_chunk: Callable[[bytes], None], interval: float = BATCH_SECONDS) -> None:
        self.fd, self.on_chunk, self.interval = fd, on_chunk, interval
        self.loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[None] = self.loop.create_future()
        self._timer: asyncio.Handle | None = None
        self._watching = False
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError):  # not a pipe, or over the limit: the default size works, later
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._timer = self.loop.call_soon(self._read)

    def _read(self) -> None:
        self._timer = None
        if self._watching:
            self.loop.remove_reader(self.fd)
            self._watching = False
        try:
            data, eof = _read_available(self.fd)
            if data:
                self.on_chunk(data)
        except Exception as e:  # the consumer's failure ends the reading, as in a task
            self._end(e)
            return
        if self.ended.done():
            return  # stopped by `on_chunk`
        if eof:
            self._end(None)
        elif data:
            self._timer = self.loop.call_later(self.interval, self._read)  # let the next packets gather
        else:
            self.loop.add_reader(self.fd, self._read)
            self._watching = True

    def _end(self, error: BaseException | None) -> None:
        if not self.ended.done():
            if error is None:
                self.ended.set_result(None)
            else:
                self.ended.set_exception(error)

    def stop(self) -> None:
        """No more reading (before the caller closes `fd`)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watching:
            self.loop.remove_reader(self.fd)
            self._watching = False
        self._end(None)
