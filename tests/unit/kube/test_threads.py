"""The operator's API threads run queued calls streams first, in order within a priority."""

from __future__ import annotations

import asyncio
import threading

import pytest
from streamops.kube.threads import FIRST, LATER, ApiThreads


def test_waiting_calls_run_by_priority_then_in_order() -> None:
    pool = ApiThreads(1, "test")
    gate, started, ran = threading.Event(), threading.Event(), []
    blocker = pool.submit(LATER, lambda: started.set() or gate.wait())  # holds the only thread
    assert started.wait(5)
    futures = [
        pool.submit(priority, lambda name=name: ran.append(name))
        for priority, name in ((LATER, "restream-1"), (FIRST, "stream-1"), (LATER, "restream-2"), (FIRST, "stream-2"))
    ]
    gate.set()
    for f in (blocker, *futures):
        f.result(timeout=5)
    pool.shutdown()
    assert ran == ["stream-1", "stream-2", "restream-1", "restream-2"]


def test_a_failing_call_hands_its_exception_to_the_caller_and_the_thread_goes_on() -> None:
    pool = ApiThreads(1, "test")

    def fail() -> None:
        raise ValueError("409 Conflict")

    with pytest.raises(ValueError, match="409"):
        pool.submit(FIRST, fail).result(timeout=5)
    assert pool.submit(LATER, lambda: 42).result(timeout=5) == 42
    pool.shutdown()


def test_shutdown_cancels_what_waits_and_refuses_more() -> None:
    pool = ApiThreads(1, "test")
    gate, started = threading.Event(), threading.Event()
    running = pool.submit(LATER, lambda: started.set() or gate.wait())
    assert started.wait(5)
    waiting = pool.submit(FIRST, lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    assert waiting.cancelled()
    gate.set()
    assert running.result(timeout=5) is True
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(FIRST, lambda: None)
    pool.shutdown()  # joins the thread: it stopped after its running call


def test_an_awaiting_coroutine_gets_the_result() -> None:
    pool = ApiThreads(2, "test")

    async def main() -> int:
        return await asyncio.wrap_future(pool.submit(FIRST, lambda: 7))

    assert asyncio.run(main()) == 7
    pool.shutdown()
