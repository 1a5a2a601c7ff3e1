"""The harness's one wait loop: a probe that reads a status not written yet is "not yet", not a failure."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from devtools.waits import WaitTimeout, eventually, eventually_async, measured_until


def test_a_probe_raising_a_missing_key_is_polled_again_until_it_holds() -> None:
    objects: list[dict[str, Any]] = [{}, {"status": {}}, {"status": {"live": True}}]
    assert eventually(lambda: objects.pop(0)["status"]["live"], timeout=5, interval=0.01) is True


def test_a_wait_that_runs_out_names_the_last_error() -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for 'status.live': last error KeyError\('status'\)"):
        eventually(lambda: {}["status"], timeout=0.05, interval=0.01, what="status.live")


def test_any_other_error_is_raised_at_once() -> None:
    calls: list[int] = []

    def probe() -> bool:
        calls.append(1)
        raise ValueError("a bug in the probe")

    with pytest.raises(ValueError, match="a bug"):
        eventually(probe, timeout=5, interval=0.01)
    assert len(calls) == 1


def test_a_wait_that_runs_out_says_what_explain_reads_then_and_only_then() -> None:
    asked: list[int] = []

    def explain() -> str:
        asked.append(1)
        return "ingest log: no publisher"

    assert eventually(lambda: True, timeout=1, explain=explain) is True
    assert asked == []
    with pytest.raises(WaitTimeout, match=r"(?s)waiting for 'live': last value False\ningest log: no publisher"):
        eventually(lambda: False, timeout=0.05, interval=0.01, what="live", explain=explain)
    assert asked == [1]


def test_an_explanation_that_fails_is_named_and_the_time_out_still_raised() -> None:
    def explain() -> str:
        raise ConnectionError("the API server is gone")

    with pytest.raises(WaitTimeout, match=r"(?s)waiting for 'live'.*could not be read: ConnectionError"):
        eventually(lambda: False, timeout=0.05, interval=0.01, what="live", explain=explain)


def test_the_event_loop_wait_lets_the_tasks_it_waits_on_run() -> None:
    async def scenario() -> int:
        seen: list[int] = []

        async def worker() -> None:
            for n in range(3):
                seen.append(n)
                await asyncio.sleep(0)

        task = asyncio.create_task(worker())
        last = await eventually_async(lambda: len(seen) == 3 and seen[-1] + 1, timeout=5)
        await task
        return last

    assert asyncio.run(scenario()) == 3


def test_the_event_loop_wait_that_runs_out_names_the_last_value() -> None:
    with pytest.raises(WaitTimeout, match=r"waiting for 'nothing': last value False"):
        asyncio.run(eventually_async(lambda: False, timeout=0.05, what="nothing"))


def test_a_figure_is_measured_again_until_it_holds_and_the_last_are_named_if_it_never_does() -> None:
    figures = iter([12.0, 18.0, 29.5, 30.0])
    assert measured_until(lambda: next(figures), lambda fps: fps > 20, timeout=5) == 29.5
    with pytest.raises(WaitTimeout, match=r"measuring 'fps': last \[12.0(, 12.0)*\]$"):
        measured_until(lambda: 12.0, lambda fps: fps > 20, timeout=0.05, interval=0.03, what="fps")
