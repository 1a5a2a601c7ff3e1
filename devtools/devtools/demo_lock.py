"""One demo driver at a time per directory: DIR/demo.lock, flock'ed for a driver's whole life
(teardown included) with the holder's PID written in it.

A second `make demo` started beside a running one used to clear the slate under it (its etcd data
removed, both runs failed); it now reads who holds the lock and refuses. The lock is an open file
description, not a file's existence: a driver killed by SIGKILL releases it with its last descriptor,
and Python's descriptors are not inherited, so no process the demo leaves running (KEEP=1) holds it.
`make cluster-up` and `make cluster-down` test it too (flock -n in the Makefile).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Self

LOCK_FILE = "demo.lock"


class DemoBusy(Exception):
    """Another driver holds DIR's lock."""

    def __init__(self, dir: Path, pid: int | None) -> None:
        self.dir, self.pid = dir, pid
        holder = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"another make demo is running in {dir} ({holder}); wait for it or run make demo-down")


class DemoLock:
    """DIR/demo.lock, held from acquire() to release(). The file itself is never removed (a driver
    locking a new file of the same name while another holds the old one would not exclude it)."""

    def __init__(self, dir: Path) -> None:
        self.path = dir / LOCK_FILE
        self._fd: int | None = None

    def holder(self) -> int | None:
        """The PID the holder wrote, or None (no file, or not written yet)."""
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (FileNotFoundError, ValueError):
            return None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self) -> Self:
        """Now, or DemoBusy naming the holder."""
        if not self.try_acquire():
            raise DemoBusy(self.path.parent, self.holder())
        return self

    def wait(self, timeout: float) -> bool:
        """Until the holder lets go (it is stopping), at most `timeout` seconds; True once held."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def release(self) -> None:
        if self._fd is not None:
            # Emptied first: a reader between the unlock and the next holder's write sees no stale PID.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()
