"""Leader election on a coordination.k8s.io/v1 Lease, decided purely: the Lease as read, the time
and this process's identity give acquire, renew or wait, with the Lease to write. The API server's
optimistic concurrency (the read resourceVersion goes back with the write: 409 when someone else
wrote in between) makes sure only one contender wins. The loop that acts on these decisions is
control/runtime/leader_election.py; why a Lease, the timings and what a partitioned leader does:
docs/design/operator-ha.md.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from streamops.kube.manifests import Manifest, timestamp

LEASE_API_VERSION = "coordination.k8s.io/v1"
LEASE_KIND = "Lease"
# A released Lease says it lasts a second (as client-go's release does), so that a contender that
# still reads leaseDurationSeconds rather than the empty holder takes it at once too.
RELEASED_DURATION_SECONDS = 1


@dataclass(frozen=True)
class LeaseTiming:
    """controller-runtime's defaults. The leader renews every `retry_period_seconds` and stops
    leading when no renewal succeeded for `renew_deadline_seconds`; a contender takes the Lease once
    `lease_duration_seconds` passed since its last renewal. The difference between the two (5 s)
    is the margin within which a leader that cannot renew has stopped before anyone else starts."""

    lease_duration_seconds: int = 15
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{self.retry_period_seconds} / {self.renew_deadline_seconds} / {self.lease_duration_seconds}"
            )


class Action(StrEnum):
    ACQUIRE = "acquire"  # create the Lease, or take over a free or expired one
    RENEW = "renew"  # this process holds it: move renewTime on
    WAIT = "wait"  # someone else holds it and it has not expired


@dataclass(frozen=True)
class Decision:
    action: Action
    # ACQUIRE/RENEW: the Lease to write: without resourceVersion to create (nothing was read), else the
    # read one with its resourceVersion to replace. WAIT: None.
    lease: Manifest | None
    holder: str  # who holds the Lease after this decision
    expires: datetime | None = None  # WAIT: when the holder's Lease runs out unless renewed


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime (RFC 3339, microseconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def expiry(spec: Manifest, duration_seconds: int) -> datetime | None:
    """When a held Lease runs out: its last renewal (else its acquisition) plus its own
    leaseDurationSeconds (ours when it states none). None: no time on it, expired already."""
    renewed = timestamp(spec.get("renewTime")) or timestamp(spec.get("acquireTime"))
    if renewed is None:
        return None
    seconds = spec.get("leaseDurationSeconds")
    return renewed + timedelta(seconds=seconds if isinstance(seconds, int) and seconds > 0 else duration_seconds)


def new_lease(name: str, namespace: str, identity: str, now: datetime, duration_seconds: int) -> Manifest:
    stamp = micro_time(now)
    return {
        "apiVersion": LEASE_API_VERSION,
        "kind": LEASE_KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "holderIdentity": identity,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        },
    }


def decide(
    observed: Manifest | None, now: datetime, identity: str, name: str, namespace: str, duration_seconds: int
) -> Decision:
    """What `identity` does with the Lease `name` it read as `observed` (None: there is none) at `now`
    (an aware datetime). Free (no holder, e.g. released) or expired (renewTime + leaseDurationSeconds
    < now): take it over, leaseTransitions + 1. Held by `identity`: renew. Else wait."""
    if observed is None:
        return Decision(Action.ACQUIRE, new_lease(name, namespace, identity, now, duration_seconds), identity)
    spec = observed.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    stamp = micro_time(now)
    lease = copy.deepcopy(observed)
    lease.pop("status", None)
    if holder == identity:
        lease["spec"] = {
            **spec,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": spec.get("acquireTime") or stamp,
            "renewTime": stamp,
        }
        return Decision(Action.RENEW, lease, identity)
    expires = expiry(spec, duration_seconds) if holder else None
    if holder and expires is not None and not expires < now:
        return Decision(Action.WAIT, None, holder, expires)
    transitions = spec.get("leaseTransitions")
    lease["spec"] = {
        **spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_seconds,
        "acquireTime": stamp,
        "renewTime": stamp,
        "leaseTransitions": (transitions if isinstance(transitions, int) else 0) + 1,
    }
    return Decision(Action.ACQUIRE, lease, identity)


def released(held: Manifest, now: datetime, identity: str) -> Manifest | None:
    """The Lease `identity` holds (as last written, with its resourceVersion), given up: no holder,
    so that a standby takes it at its next try instead of waiting for it to expire. None when it is
    not held by `identity` (nothing to give up)."""
    spec = held.get("spec") or {}
    if spec.get("holderIdentity") != identity:
        return None
    lease = copy.deepcopy(held)
    stamp = micro_time(now)
    lease["spec"] = {
        **{k: v for k, v in spec.items() if k != "holderIdentity"},
        "leaseDurationSeconds": RELEASED_DURATION_SECONDS,
        "acquireTime": stamp,
        "renewTime": stamp,
    }
    return lease
