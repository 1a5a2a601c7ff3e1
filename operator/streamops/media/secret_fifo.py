"""Secrets handed to FFmpeg through a FIFO, never on its command line (any process on the node reads
/proc/<pid>/cmdline) nor on disk: the ingest's SRT listener script (its passphrase), the pusher's
`-args_file` (its target's URL and key). The worker makes the FIFO, starts FFmpeg, writes the text
once FFmpeg opens it for reading, then removes the FIFO."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

OPEN_POLL_SECONDS = 0.02


def make_fifo(path: Path) -> None:
    """A fresh FIFO only this user can open."""
    path.unlink(missing_ok=True)
    os.mkfifo(path, 0o600)


async def hand_over(path: Path, data: bytes, running: Callable[[], bool]) -> bool:
    """Write `data` into the FIFO once its reader (FFmpeg) has opened it, then remove the FIFO.
    False when the reader ended first. `data` fits the pipe (64 KiB): one write, never blocking."""
    try:
        while running():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: FFmpeg has not opened it for reading yet
                await asyncio.sleep(OPEN_POLL_SECONDS)
                continue
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            return True
        return False
    finally:
        path.unlink(missing_ok=True)
