"""Low-latency DASH's segments served while FFmpeg writes them (chunked CMAF). FFmpeg's dash muxer in
streaming mode writes a segment to `<name>.tmp` fragment by fragment (one every hls.partMilliseconds,
flushed as it is complete) and renames it to `<name>` once complete; the MPD announces it early
(availabilityTimeOffset), so dash.js asks for it while it grows. Such a request is answered with
chunked transfer: what is written so far at once, then each fragment as it lands, until the segment
is complete (its final name holds the same file) and every byte of it was sent.

Bounds (docs/design/low-latency.md, "Low-latency DASH"): a request holds one of the ingest's blocking
slots per client (load_caps.py, like an LL-HLS blocking reload), waits at most one segment for a
segment that has not begun, and lasts at most GROWING_LIMIT_SEGMENTS segments (then the connection
is cut, never ended as if the segment were complete); it reads READ_BYTES at a time and waits for
the client to take them (aiohttp's drain) before reading more. One watcher per growing file looks at
it every POLL_SECONDS however many viewers read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from streamops.media.ingest.load_caps import HeldFileResponse

# FFmpeg's media segment names (commands.dash_options: chunk-$RepresentationID$-$Number%06d$.m4s).
SEGMENT_NAME = re.compile(r"^chunk-\d+-\d+\.m4s$")
POLL_SECONDS = 0.02  # a fragment lands every 100-2000 ms: reaches its readers within 20 ms
READ_BYTES = 256 * 1024
GROWING_LIMIT_SEGMENTS = 3  # a segment that takes longer than this to complete is not coming
CONTENT_TYPE = "video/iso.segment"


def is_segment(name: str) -> bool:
    return SEGMENT_NAME.match(name) is not None


def may_be_held(request: web.Request) -> bool:
    """A request for a DASH media segment (at any prefix): with low latency it may last until the
    segment is complete, so it takes a blocking slot (load_caps.py)."""
    directory, _, name = request.path.rpartition("/")
    return directory.endswith("/dash") and is_segment(name)


def temporary(path: Path) -> Path:
    """Where FFmpeg writes `path` until it is complete (dashenc: `.tmp` on file outputs)."""
    return path.with_name(path.name + ".tmp")


class _Watch:
    """One growing segment: how far it is written and whether it is complete, for all its readers."""

    def __init__(self, path: Path) -> None:
        self.path, self.tmp = path, temporary(path)
        self.readers = 0
        self.size = -1  # bytes written so far; -1 before the file exists
        self.complete = False
        self._changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def look(self) -> None:
        try:
            size, complete = self.path.stat().st_size, True
        except FileNotFoundError:
            try:
                size, complete = self.tmp.stat().st_size, False
            except FileNotFoundError:  # not begun, or renamed between the two looks
                size, complete = self.size, False
        if (size, complete) != (self.size, self.complete):
            self.size, self.complete = size, complete
            self._changed.set()
            self._changed = asyncio.Event()

    async def run(self, poll: float) -> None:
        while self.readers and not self.complete:
            await asyncio.sleep(poll)
            self.look()

    async def changed(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class GrowingSegments:
    """The ingest's readers of low-latency DASH segments (one per worker)."""

    def __init__(self, poll: float = POLL_SECONDS) -> None:
        self.poll = poll
        self._watches: dict[Path, _Watch] = {}

    @contextlib.contextmanager
    def _watch(self, path: Path) -> Iterator[_Watch]:
        watch = self._watches.get(path)
        if watch is None:
            watch = self._watches[path] = _Watch(path)
            watch.look()
        watch.readers += 1
        if watch.task is None or watch.task.done():
            watch.task = asyncio.get_running_loop().create_task(watch.run(self.poll))
        try:
            yield watch
        finally:
            watch.readers -= 1
            if not watch.readers:
                del self._watches[path]

    @property
    def watched(self) -> int:
        return len(self._watches)

    async def serve(self, request: web.Request, path: Path, segment_seconds: float) -> web.StreamResponse:
        """`path` (a media segment): the file when complete; while FFmpeg writes it, its bytes as
        they are written; 404 when it has not begun within a segment's time (or never will)."""
        if path.is_file():
            return _complete_file(path)
        deadline = time.monotonic() + GROWING_LIMIT_SEGMENTS * segment_seconds
        with self._watch(path) as watch:
            begun = time.monotonic() + segment_seconds
            while watch.size < 0 and not watch.complete:
                if time.monotonic() >= begun:
                    raise web.HTTPNotFound()
                await watch.changed(begun - time.monotonic())
            opened = _open_either(path)
            if opened is None:
                raise web.HTTPNotFound()  # deleted meanwhile (left the window)
            fd, complete = opened
            if complete:
                os.close(fd)
                return _complete_file(path)
            try:
                return await self._stream(request, watch, fd, deadline)
            finally:
                os.close(fd)

    async def _stream(self, request: web.Request, watch: _Watch, fd: int, deadline: float) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent = 0
        while True:
            done = _is_complete(watch.path, fd)  # before reading: what follows is the last of it
            while chunk := os.pread(fd, READ_BYTES, sent):
                await response.write(chunk)
                sent += len(chunk)
            if done:
                await response.write_eof()
                return response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # Never end the body as if the segment were complete: the client sees a cut transfer.
                if request.transport is not None:
                    request.transport.close()
                return response
            if watch.size <= sent and not watch.complete:  # else it changed while this was sending
                await watch.changed(min(remaining, 1.0))


def _open_either(path: Path) -> tuple[int, bool] | None:
    """A descriptor of the segment (complete or being written) and whether it is complete."""
    for _ in range(2):  # the rename may land between the two opens
        with contextlib.suppress(FileNotFoundError):
            return os.open(path, os.O_RDONLY), True
        with contextlib.suppress(FileNotFoundError):
            return os.open(temporary(path), os.O_RDONLY), False
    return None


def _is_complete(path: Path, fd: int) -> bool:
    """FFmpeg renamed the file open as `fd` to its final name: it has written all of it."""
    try:
        final = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (final.st_dev, final.st_ino) == (mine.st_dev, mine.st_ino)


def _complete_file(path: Path) -> web.StreamResponse:
    return HeldFileResponse(path, headers={"Content-Type": CONTENT_TYPE})
