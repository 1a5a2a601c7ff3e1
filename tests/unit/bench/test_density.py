"""bench.density's search for the largest N that holds, and what a step says when it did not."""

from __future__ import annotations

import pytest

from bench.density import Step, search, unready
from bench.hls_watch import Verdict


def tried(limit: int, steps: str, most: int = 128, resolution: int = 2) -> tuple[int, list[int]]:
    seen: list[int] = []

    def held(n: int) -> bool:
        seen.append(n)
        return n <= limit

    return search(held, steps, most, resolution), seen


@pytest.mark.parametrize(
    ("limit", "found", "steps"),
    [
        (0, 0, [2]),
        (5, 4, [2, 4, 8, 6]),
        (17, 16, [2, 4, 8, 16, 32, 24, 20, 18]),
        (200, 128, [2, 4, 8, 16, 32, 64, 128]),
    ],
)
def test_doubling_then_bisecting(limit: int, found: int, steps: list[int]) -> None:
    assert tried(limit, "doubling") == (found, steps)


def test_doubling_stops_at_most_even_off_the_powers_of_two() -> None:
    assert tried(200, "doubling", most=40) == (40, [2, 4, 8, 16, 32, 40])


def test_a_list_runs_in_order_until_a_step_fails() -> None:
    assert tried(1, "1,2,3") == (1, [1, 2])
    assert tried(9, "1, 2") == (2, [1, 2])


def step(verdicts: dict[str, Verdict], restreams: int = 2, recordings: int = 2) -> Step:
    return Step("streamops", 2, verdicts, {}, {}, {}, restreams, recordings, [], 50.0, "1 1 1")


def test_a_step_holds_only_when_every_stream_kept_up_and_did_all_its_jobs() -> None:
    ok = {"s1": Verdict(0.99, 30, 0, 0), "s2": Verdict(1.0, 30, 0, 0)}
    assert step(ok).held and step(ok).why == ""
    slow = step({**ok, "s2": Verdict(0.97, 30, 0, 0)})
    assert not slow.held and "speed < 0.98: s2" in slow.why
    assert "1 segments missed" in step({**ok, "s1": Verdict(1.0, 30, 1, 0)}).why
    assert "1 playlists not read" in step({"s1": ok["s1"]}).why
    assert "1 restreams not at the target" in step(ok, restreams=1).why
    assert "2 recordings not growing" in step(ok, recordings=0).why
    assert not unready("nginx-rtmp", 4, AssertionError("s3 never live\ndetail")).held
