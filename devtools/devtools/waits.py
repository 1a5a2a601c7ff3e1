"""Polling until something holds: the one wait loop of the harness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A wait that ran out: an AssertionError for tests, a TimeoutError for scripts and peers."""


# What a probe raises while the thing it reads is not there yet: a status or condition not written
# (`o["status"]`, `condition(o, "Ready")["status"]` of None), a list still empty. A wait treats them as
# "not yet" and names the last one if it runs out. The API reads (devtools.cluster.api_reads) come
# back in milliseconds, so a probe right after an apply meets an object whose status is not written.
NOT_YET = (KeyError, TypeError, IndexError)


def _last_seen(value: Any) -> str:
    return f"last error {value!r}" if isinstance(value, NOT_YET) else f"last value {value!r}"


def _probed(probe: Callable[[], Any]) -> Any:
    """probe()'s value, or the NOT_YET error it raised."""
    try:
        return probe()
    except NOT_YET as e:
        return e


def _explained(message: str, explain: Callable[[], str] | None) -> str:
    """The time-out's message and, below it, what `explain` says about the state it was left in (what
    the wait's caller can read then: a log's tail, the objects, a page's console). An error reading it
    must not hide the time-out: it is named instead."""
    if explain is None:
        return message
    try:
        return f"{message}\n{explain()}"
    except Exception as e:
        return f"{message}\n(what explains it could not be read: {e!r})"


def _held(
    value: Any,
    probe: Callable[[], Any],
    deadline: float,
    timeout: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> bool:
    """Whether the wait is over (a truthy value that is no NOT_YET error); WaitTimeout past the deadline."""
    if value and not isinstance(value, NOT_YET):
        return True
    if time.monotonic() >= deadline:
        message = f"timed out after {timeout:g}s waiting for {what or probe!r}: {_last_seen(value)}"
        raise WaitTimeout(_explained(message, explain))
    return False


def eventually(
    probe: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "",
    explain: Callable[[], str] | None = None,
) -> T:
    """Poll until probe() is truthy and return that value; WaitTimeout with the last value seen (or
    the last NOT_YET error the probe raised) and what explain() then says."""
    deadline = time.monotonic() + timeout
    while not _held(value := _probed(probe), probe, deadline, timeout, what, explain):
        time.sleep(interval)
    return value  # type: ignore[return-value]


async def eventually_async(
    probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.01, what: str = ""
) -> T:
    """eventually() inside an event loop: the tasks under test run while it waits (asyncio.sleep),
    where a fixed sleep then an assertion would fail on a loaded machine."""
    deadline = time.monotonic() + timeout
    while not _held(value := _probed(probe), probe, deadline, timeout, what):
        await asyncio.sleep(interval)
    return value  # type: ignore[return-value]


def measured_until(
    measure: Callable[[], T], holds: Callable[[T], bool], timeout: float = 60.0, interval: float = 0.0, what: str = ""
) -> T:
    """Measure a live figure again (a rate over a window) until it holds, and return that measurement;
    WaitTimeout with the last ones seen. One window's figure against a bound fails now and then on a
    loaded machine; how fast is a benchmark's question, "it gets there" the test's."""
    deadline = time.monotonic() + timeout
    seen: list[T] = []
    while True:
        seen.append(measure())
        if holds(seen[-1]):
            return seen[-1]
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s measuring {what or measure!r}: last {seen[-10:]!r}")
        time.sleep(interval)


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.1, what: str = "") -> T:
    """eventually() with the media peers' shorter default timeout (10 s)."""
    return eventually(probe, timeout, interval, what)
