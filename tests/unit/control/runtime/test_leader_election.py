"""Leader election's loop (control/runtime/leader_election.py), acting on the pure decision of
leader_lease.py, against the in-memory API adapter: one leader at a time, take-over only of a free or
expired Lease, a leader that cannot renew stops, a clean shutdown hands the Lease over at once."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.fake_kube import FakeKubeApi
from streamops.control.runtime.leader_election import (
    HARD_EXIT_GRACE_SECONDS,
    LOST_LEADERSHIP_EXIT,
    LeaderElection,
    Outcome,
    run_elected,
)
from streamops.control.runtime.leader_lease import LeaseTiming, micro_time

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NS, NAME = "streamops-system", "streamops"


def lease(holder: str | None, renewed: datetime = T0, duration: int = 15, transitions: int = 3) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "leaseDurationSeconds": duration,
        "acquireTime": micro_time(renewed - timedelta(minutes=5)),
        "renewTime": micro_time(renewed),
        "leaseTransitions": transitions,
    }
    if holder is not None:
        spec["holderIdentity"] = holder
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": NAME, "namespace": NS, "resourceVersion": "41", "uid": "u1"},
        "spec": spec,
    }


FAST = LeaseTiming(lease_duration_seconds=2, renew_deadline_seconds=0.6, retry_period_seconds=0.1)


class Clock:
    """The wall clock the contenders put into the Lease, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def never_exit(code: int) -> None:
    raise AssertionError(f"the watchdog ended the process ({code})")


def contender(
    api: FakeKubeApi, identity: str, clock: Clock, timing: LeaseTiming = FAST, hard_exit: Any = never_exit
) -> LeaderElection:
    return LeaderElection(api, NAME, NS, identity, timing, clock=clock, hard_exit=hard_exit)


def stored(api: FakeKubeApi) -> dict[str, Any]:
    obj = api.object("Lease", NS, NAME)
    assert obj is not None
    return obj


def test_two_contenders_one_leader_and_takeover_only_after_expiry() -> None:
    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        a, b = contender(api, "op-a", clock), contender(api, "op-b", clock)
        try:
            assert await a.attempt() is Outcome.HELD
            assert await b.attempt() is Outcome.OTHER and b.holder == "op-a"
            clock.now += timedelta(seconds=1)
            assert await a.attempt() is Outcome.HELD  # renewed
            assert stored(api)["spec"]["renewTime"] == micro_time(clock.now)
            clock.now += timedelta(seconds=2)  # exactly the duration since the renewal: not expired yet
            assert await b.attempt() is Outcome.OTHER
            clock.now += timedelta(microseconds=1)
            assert await b.attempt() is Outcome.HELD
            assert stored(api)["spec"]["holderIdentity"] == "op-b"
            assert stored(api)["spec"]["leaseTransitions"] == 1
            # a, still holding its old copy, renews with a stale resourceVersion: refused, then it reads
            # the Lease again and finds it b's.
            assert await a.attempt() is Outcome.OTHER and a.holder == "op-b"
            assert [c.result for c in api.calls if c.verb == "replace"][-1] == "conflict"
        finally:
            a.close()
            b.close()

    asyncio.run(scenario())


def test_a_simultaneous_takeover_has_one_winner() -> None:
    """Two standbys try at once on an expired Lease: whatever the interleaving (both read it and the
    second write is a 409, or the second reads the first's), exactly one holds it."""

    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        api.add(lease("gone", renewed=T0 - timedelta(minutes=1)))
        a, b = contender(api, "op-a", clock), contender(api, "op-b", clock)
        try:
            outcomes = await asyncio.gather(a.attempt(), b.attempt())
            assert sorted(o.value for o in outcomes) == ["held", "other"]
            assert stored(api)["spec"]["holderIdentity"] in ("op-a", "op-b")
        finally:
            a.close()
            b.close()

    asyncio.run(scenario())


def test_a_leader_that_cannot_renew_stops_within_its_deadline() -> None:
    """Every renewal fails (the API server unreachable): `lost` is set once the renew deadline has
    passed since the last renewal, well before the Lease expires for a standby."""

    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        a = contender(api, "op-a", clock)
        try:
            assert await a.acquire(asyncio.Event())
            began = asyncio.get_running_loop().time()
            api.fail("replace", "Lease", status=503, times=1000)
            await asyncio.wait_for(a.keep(asyncio.Event()), timeout=5)
            stopped = asyncio.get_running_loop().time() - began
            assert a.lost.is_set() and not a.leading
            assert FAST.renew_deadline_seconds - FAST.retry_period_seconds <= stopped < FAST.lease_duration_seconds
        finally:
            a.close()

    asyncio.run(scenario())


def test_the_watchdog_ends_a_leader_whose_event_loop_is_stuck() -> None:
    """A blocked event loop renews nothing and stops nothing: the watchdog thread ends the process
    HARD_EXIT_GRACE_SECONDS past the renew deadline."""
    exits: list[tuple[int, float]] = []

    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        a = contender(api, "op-a", clock, hard_exit=lambda code: exits.append((code, time.monotonic())))
        try:
            assert await a.acquire(asyncio.Event())
            began = time.monotonic()
            time.sleep(FAST.renew_deadline_seconds + HARD_EXIT_GRACE_SECONDS + 1.0)  # the loop stalls
            assert exits, "the watchdog did not end the process"
            code, at = exits[0]
            assert code == LOST_LEADERSHIP_EXIT
            assert at - began >= FAST.renew_deadline_seconds + HARD_EXIT_GRACE_SECONDS - 0.1
        finally:
            a.close()

    asyncio.run(scenario())


def test_a_leader_whose_lease_was_taken_stops_at_once() -> None:
    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        a = contender(api, "op-a", clock)
        try:
            assert await a.acquire(asyncio.Event())
            keeper = asyncio.create_task(a.keep(asyncio.Event()))
            await asyncio.sleep(0.25)
            assert not keeper.done() and a.leading
            taken = stored(api)
            taken["spec"]["holderIdentity"] = "intruder"
            api.modify("Lease", NS, NAME, {"spec": taken["spec"]})
            await asyncio.wait_for(keeper, timeout=2)
            assert a.lost.is_set() and a.holder == "intruder"
        finally:
            a.close()

    asyncio.run(scenario())


def test_release_reads_the_lease_again_when_its_copy_is_outdated() -> None:
    """The Lease changed since the leader last wrote it (a renewal that timed out but landed, a
    label added): the release reads it again and still gives it up."""

    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        a = contender(api, "op-a", clock)
        try:
            assert await a.acquire(asyncio.Event())
            api.modify("Lease", NS, NAME, {"metadata": {"labels": {"touched": "yes"}}})
            await a.release()
            assert "holderIdentity" not in stored(api)["spec"]
            assert [c.result for c in api.calls if c.verb == "replace"] == ["conflict", "ok"]
        finally:
            a.close()

    asyncio.run(scenario())


def test_run_elected_operates_only_as_leader_and_releases_on_a_clean_stop() -> None:
    """The standby does not operate while the leader does; the leader's clean stop releases the
    Lease, and the standby takes it over without waiting for it to expire."""

    async def scenario() -> None:
        api, clock = FakeKubeApi(), Clock()
        slow = LeaseTiming(lease_duration_seconds=60, renew_deadline_seconds=30, retry_period_seconds=0.1)
        a, b = contender(api, "op-a", clock, slow), contender(api, "op-b", clock, slow)
        operating: list[str] = []
        stop_a = asyncio.Event()

        def operate(name: str, stop: asyncio.Event | None) -> Any:
            async def run(lost: asyncio.Event) -> None:
                operating.append(name)
                waits = [asyncio.ensure_future(lost.wait())] + ([asyncio.ensure_future(stop.wait())] if stop else [])
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()

            return run

        run_a = asyncio.create_task(run_elected(a, operate("a", stop_a), None))
        await asyncio.sleep(0.3)
        run_b = asyncio.create_task(run_elected(b, operate("b", None), None))
        await asyncio.sleep(0.5)
        assert operating == ["a"], "the standby operates nothing"
        stop_a.set()  # kopf stopped (SIGTERM): the Lease is released
        assert await asyncio.wait_for(run_a, 2) == 0
        for _ in range(30):
            if operating == ["a", "b"]:
                break
            await asyncio.sleep(0.1)
        assert operating == ["a", "b"], "the standby took over long before the 60 s lease would have expired"
        assert stored(api)["spec"]["holderIdentity"] == "op-b"
        # The Lease taken from b: b stops and says it lost leadership.
        taken = copy.deepcopy(stored(api))
        taken["spec"]["holderIdentity"] = "intruder"
        api.modify("Lease", NS, NAME, {"spec": taken["spec"]})
        assert await asyncio.wait_for(run_b, 2) == LOST_LEADERSHIP_EXIT

    asyncio.run(scenario())
