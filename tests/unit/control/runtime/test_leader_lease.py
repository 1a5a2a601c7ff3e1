"""Leader election on a Lease: the pure decision (control/runtime/leader_lease.py) and the loop that
acts on it (control/runtime/leader_election.py) against the in-memory API adapter: one leader at a time,
take-over only of a free or expired Lease, a leader that cannot renew stops, a clean shutdown
hands the Lease over at once."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.fake_kube import FakeKubeApi
from streamops.control.runtime.leader_election import (
    HARD_EXIT_GRACE_SECONDS,
    LOST_LEADERSHIP_EXIT,
    LeaderElection,
    Outcome,
    run_elected,
)
from streamops.control.runtime.leader_lease import Action, LeaseTiming, decide, micro_time, released
from streamops.kube.manifests import timestamp

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


def test_no_lease_is_created_held_by_us() -> None:
    d = decide(None, T0, "op-a", NAME, NS, 15)
    assert d.action is Action.ACQUIRE and d.holder == "op-a"
    assert d.lease is not None
    assert d.lease["metadata"] == {"name": NAME, "namespace": NS}  # no resourceVersion: a create
    assert d.lease["spec"] == {
        "holderIdentity": "op-a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-26T12:00:00.000000Z",
        "renewTime": "2026-11-26T12:00:00.000000Z",
        "leaseTransitions": 0,
    }


def test_our_own_lease_is_renewed_with_its_resource_version() -> None:
    observed = lease("op-a", renewed=T0 - timedelta(seconds=2))
    now = T0 + timedelta(microseconds=250)
    d = decide(observed, now, "op-a", NAME, NS, 15)
    assert d.action is Action.RENEW and d.lease is not None
    assert d.lease["metadata"]["resourceVersion"] == "41"  # optimistic concurrency: 409 if changed since
    assert d.lease["spec"]["renewTime"] == "2026-11-26T12:00:00.000250Z"
    assert d.lease["spec"]["acquireTime"] == observed["spec"]["acquireTime"]
    assert d.lease["spec"]["leaseTransitions"] == 3  # no transition
    assert observed["spec"]["renewTime"] != d.lease["spec"]["renewTime"], "the observed Lease is not changed"


def test_a_restarted_leader_with_the_same_identity_renews_even_an_expired_lease() -> None:
    """A container restarted in the same Pod (same name) carries on: nobody else took the Lease."""
    d = decide(lease("op-a", renewed=T0 - timedelta(minutes=3)), T0, "op-a", NAME, NS, 15)
    assert d.action is Action.RENEW


@pytest.mark.parametrize("age", [0.0, 5.0, 14.999, 15.0])
def test_a_lease_held_by_another_is_waited_for_until_it_expires(age: float) -> None:
    d = decide(lease("op-b", renewed=T0 - timedelta(seconds=age)), T0, "op-a", NAME, NS, 15)
    assert d.action is Action.WAIT and d.lease is None
    assert d.holder == "op-b"
    assert d.expires == T0 - timedelta(seconds=age) + timedelta(seconds=15)


def test_an_expired_lease_is_taken_over_with_one_more_transition() -> None:
    observed = lease("op-b", renewed=T0 - timedelta(seconds=15, microseconds=1))
    d = decide(observed, T0, "op-a", NAME, NS, 15)
    assert d.action is Action.ACQUIRE and d.lease is not None
    assert d.lease["metadata"]["resourceVersion"] == "41"  # a replace: two contenders, one wins
    assert d.lease["spec"]["holderIdentity"] == "op-a"
    assert d.lease["spec"]["acquireTime"] == d.lease["spec"]["renewTime"] == micro_time(T0)
    assert d.lease["spec"]["leaseTransitions"] == 4


def test_the_holders_own_lease_duration_counts() -> None:
    """A holder that asked for 60 s keeps the Lease 60 s, whatever this contender's setting."""
    observed = lease("op-b", renewed=T0 - timedelta(seconds=30), duration=60)
    assert decide(observed, T0, "op-a", NAME, NS, 15).action is Action.WAIT
    assert decide(observed, T0 + timedelta(seconds=31), "op-a", NAME, NS, 15).action is Action.ACQUIRE


@pytest.mark.parametrize("holder", [None, ""])
def test_a_released_lease_is_taken_at_once(holder: str | None) -> None:
    observed = lease(holder, renewed=T0, duration=1)
    d = decide(observed, T0, "op-a", NAME, NS, 15)
    assert d.action is Action.ACQUIRE and d.lease is not None
    assert d.lease["spec"]["leaseTransitions"] == 4
    assert d.lease["spec"]["leaseDurationSeconds"] == 15


def test_a_held_lease_without_times_counts_as_expired() -> None:
    observed = lease("op-b")
    del observed["spec"]["renewTime"], observed["spec"]["acquireTime"]
    assert decide(observed, T0, "op-a", NAME, NS, 15).action is Action.ACQUIRE


def test_release_clears_the_holder_only_of_our_own_lease() -> None:
    held = lease("op-a")
    body = released(held, T0 + timedelta(seconds=1), "op-a")
    assert body is not None
    assert "holderIdentity" not in body["spec"]
    assert body["spec"]["leaseDurationSeconds"] == 1
    assert body["metadata"]["resourceVersion"] == "41"
    assert body["spec"]["leaseTransitions"] == 3
    assert released(lease("op-b"), T0, "op-a") is None
    assert decide(body, T0 + timedelta(seconds=1), "op-b", NAME, NS, 15).action is Action.ACQUIRE


def test_micro_time_round_trips() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert micro_time(moment) == "2026-01-02T03:04:05.678901Z"
    assert timestamp(micro_time(moment)) == moment
    assert timestamp("2026-01-02T03:04:05Z") == moment.replace(microsecond=0)
    assert timestamp("garbage") is None and timestamp(None) is None


@pytest.mark.parametrize(("duration", "deadline", "retry"), [(15, 15.0, 2.0), (15, 10.0, 10.0), (15, 10.0, 0.0)])
def test_timings_must_leave_a_margin(duration: int, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError):
        LeaseTiming(duration, deadline, retry)


# --- the loop, against the in-memory API adapter ---------------------------------------------------

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
