"""Polling until something holds: the one wait loop of the harness."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A wait that ran out: an AssertionError for tests, a TimeoutError for scripts and peers."""


def eventually(probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Poll until probe() is truthy and return that value; WaitTimeout with the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value: Any = probe()
        if value:
            return value  # type: ignore[no-any-return]
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what or probe!r}: last value {value!r}")
        time.sleep(interval)


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.1, what: str = "") -> T:
    """eventually() with the media peers' shorter default timeout (10 s)."""
    return eventually(probe, timeout, interval, what)
