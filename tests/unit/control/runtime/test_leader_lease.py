"""Leader election's pure decision on a Lease (control/runtime/leader_lease.py): take-over only of a
free or expired Lease, renewal of our own, release of our own only. The loop acting on it is
test_leader_election.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
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
