"""A compiled child the worker keeps running (the WebRTC component, the RTMP front): started again
with backoff when it exits or cannot start, the backoff reset by a run that lasted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
STEADY_SECONDS = 30.0  # a run this long resets the backoff


async def keep_running(
    run_once: Callable[[], Awaitable[int | None]],
    stopping: asyncio.Event,
    what: str,
    last_error: Callable[[], str],
    report: Callable[[str], None],
    on_exit: Callable[[int], None] | None = None,
) -> None:
    """`run_once()` (its exit code, None once stopped by us) until `stopping`. Each exit, or a start
    that failed (OSError: a missing binary, a host that does not resolve; code -1), is `report`ed as
    one sentence naming `what`, passed to `on_exit`, then followed by a pause."""
    failures = 0
    while not stopping.is_set():
        started = time.monotonic()
        try:
            rc = await run_once()
        except OSError as e:
            rc = -1
            report(f"{what} cannot start: {e}")
        else:
            if rc is None:
                return
            report(f"{what} exited ({rc}): {last_error()}".rstrip(": "))
        if on_exit is not None:
            on_exit(rc)
        failures = 0 if time.monotonic() - started > STEADY_SECONDS else failures + 1
        pause = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1] if failures else BACKOFF_SECONDS[0]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), pause)


async def exit_or_stop(exit_code: Awaitable[int], stopping: asyncio.Event) -> int | None:
    """The child's exit code (`exit_code`: its wait()), or None when `stopping` came first."""
    exited = asyncio.ensure_future(exit_code)
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait([exited, stop], return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if not exited.done():
        exited.cancel()
        return None
    return exited.result()


class Child(Protocol):
    """What run_with_events needs of a child (media.ffmpeg.FfmpegProcess)."""

    async def wait(self) -> int: ...

    async def stop(self, grace: float = ...) -> int | None: ...


C = TypeVar("C", bound=Child)


async def run_with_events(
    child: C,
    read_events: Callable[[C], Coroutine[Any, Any, None]],
    stopping: asyncio.Event,
    on_end: Callable[[], None],
) -> int | None:
    """One run of a started child that reports on a channel of its own (the RTMP front's and the
    readers' JSON lines on stdout): its events read meanwhile, its exit code (None: `stopping` came
    first). Whatever ends it, `on_end` forgets what the run said, then the child is stopped and the
    reader ended."""
    events = asyncio.create_task(read_events(child))
    try:
        return await exit_or_stop(child.wait(), stopping)
    finally:
        on_end()
        await child.stop(grace=3)
        events.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await events
