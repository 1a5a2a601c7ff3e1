"""Operator replicas with leader election (`streamops operator --leader-election`), as real
processes on the suite's control plane, with the session's shared operator stopped for this module
(it runs without leader election and must not reconcile what these tests look at; a private control
plane cost its boot, ≈17 s of the module's wall and its CPU). Each runs under the session operator's
ServiceAccount kubeconfig (rbac.py's rules, or the chart's with `-p devtools.chart_rbac_plugin`), so
the Lease's Role is proved enough too.

- two replicas: exactly one reconciles, the standby logs no reconcile;
- the leader SIGKILLed: the standby takes the Lease once it expired (never before) and reconciles;
- the leader SIGTERMed: it releases the Lease and a standby takes it over at once (well before the
  Lease would have expired), and the stopped leader exits 0;
- the Lease taken by someone else: the leader stops reconciling and exits non-zero (the container
  would restart as a standby).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.cluster import suite as cluster_harness
from devtools.cluster.operator_process import OperatorProcess
from devtools.cluster.suite import OPERATOR_NAMESPACE, Cluster, Operator
from devtools.waits import eventually
from streamops.control.runtime.leader_election import LOST_LEADERSHIP_EXIT
from streamops.control.runtime.leader_lease import LeaseTiming, micro_time
from streamops.kube.manifests import timestamp

GROUP = "streaming.streamops.dev"
LEASE_DURATION = timedelta(seconds=LeaseTiming().lease_duration_seconds)
Start = Callable[[str], OperatorProcess]


@pytest.fixture(scope="module")
def plane(cluster: Cluster, operator: Operator) -> Iterator[Cluster]:
    """The suite's control plane with no operator but this module's replicas; the session's
    operator started again afterwards."""
    operator.stop()
    try:
        yield cluster
    finally:
        operator.start()


@pytest.fixture(scope="module")
def kubeconfig(operator: Operator) -> Path:
    # The session operator's: its ServiceAccount under rbac.py's rules, or the chart's with
    # `-p devtools.chart_rbac_plugin` (conftest.py looks operator_kubeconfig up at call time).
    return operator.kubeconfig


@pytest.fixture
def lease_name() -> str:
    return f"streamops-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def replicas(kubeconfig: Path, tmp_path: Path, lease_name: str) -> Iterator[Start]:
    """start(identity): an operator process with leader election on this test's Lease, waiting
    until it answers its liveness endpoint (a standby does too). Every one is stopped by PID."""
    started: list[OperatorProcess] = []

    def start(identity: str) -> OperatorProcess:
        args = (
            "--verbose",
            "--leader-election",
            f"--lease-name={lease_name}",
            f"--lease-namespace={OPERATOR_NAMESPACE}",
            f"--identity={identity}",
        )
        op = OperatorProcess(kubeconfig, tmp_path / f"{identity}.log", cluster_harness.OPERATOR_ENV, args=args)
        started.append(op)
        return op.start()

    yield start
    for op in started:
        op.stop()


def lease(plane: Cluster, name: str) -> dict[str, Any]:
    return plane.get("leases", OPERATOR_NAMESPACE, name) or {}


def holder(plane: Cluster, name: str) -> str:
    return str(lease(plane, name).get("spec", {}).get("holderIdentity") or "")


def spec_time(obj: dict[str, Any], field: str) -> datetime:
    parsed = timestamp(obj["spec"][field])
    assert parsed is not None, obj
    return parsed


def reconciled(plane: Cluster, ns: str, name: str) -> bool:
    """The stream's children and status: its ingest Pod exists and its status was written."""
    stream = plane.get("livestreams", ns, name) or {}
    return bool(stream.get("status", {}).get("observedGeneration")) and bool(plane.get("pods", ns, f"{name}-ingest"))


def reconciles(op: OperatorProcess, ns: str, name: str) -> bool:
    return f"LiveStream {ns}/{name}: reconciled" in op.logs()


def leader_and_standby(
    plane: Cluster, replicas: Start, lease_name: str, leader: str, standby: str
) -> tuple[OperatorProcess, OperatorProcess]:
    """`leader` started first and holding the Lease, then `standby` started and waiting."""
    first = replicas(leader)
    eventually(lambda: holder(plane, lease_name) == leader, timeout=30, what=f"{leader} holds the Lease")
    second = replicas(standby)
    eventually(lambda: "standby: lease" in second.logs(), timeout=30, what=f"{standby} waiting as a standby")
    return first, second


def test_one_replica_leads_and_a_standby_takes_over(
    plane: Cluster, replicas: Start, lease_name: str, namespace: str
) -> None:
    ns = namespace
    a, b = leader_and_standby(plane, replicas, lease_name, "op-a", "op-b")

    # Exactly one reconciles.
    plane.apply(ns, livestream("one"))
    eventually(lambda: reconciled(plane, ns, "one"), timeout=60, what="stream one reconciled")
    eventually(lambda: reconciles(a, ns, "one"), timeout=10, what="op-a says it reconciled stream one")
    assert "reconciled" not in b.logs(), b.logs()[-3000:]
    assert "acquired leadership" not in b.logs()
    assert holder(plane, lease_name) == "op-a"

    # The leader killed (no chance to release): the standby waits for the Lease to expire, then leads.
    os.kill(a.pid, signal.SIGKILL)
    killed = time.monotonic()
    assert a.process is not None and a.process.wait(timeout=10) == -signal.SIGKILL
    last = lease(plane, lease_name)  # op-a's last renewal: nobody writes the Lease until it expires
    assert last["spec"]["holderIdentity"] == "op-a"
    eventually(lambda: holder(plane, lease_name) == "op-b", timeout=60, interval=0.2, what="op-b holds the Lease")
    print(f"\nMEASURED leader SIGKILLed: the standby holds the Lease after {time.monotonic() - killed:.1f} s")
    taken = lease(plane, lease_name)
    assert spec_time(taken, "acquireTime") > spec_time(last, "renewTime") + LEASE_DURATION, "taken before it expired"
    assert taken["spec"]["leaseTransitions"] == last["spec"]["leaseTransitions"] + 1
    plane.apply(ns, livestream("two"))
    eventually(lambda: reconciled(plane, ns, "two"), timeout=60, what="stream two reconciled by the new leader")
    eventually(lambda: reconciles(b, ns, "two"), timeout=10, what="op-b says it reconciled stream two")
    assert "acquired leadership" in b.logs()


def test_a_clean_stop_hands_the_lease_over_at_once(
    plane: Cluster, replicas: Start, lease_name: str, namespace: str
) -> None:
    ns = namespace
    b, c = leader_and_standby(plane, replicas, lease_name, "op-b", "op-c")
    renewed = spec_time(lease(plane, lease_name), "renewTime")

    stopped = time.monotonic()
    b.stop()  # SIGTERM to its group: kopf stops, then the Lease is released
    assert b.process is not None and b.process.returncode == 0, b.logs()[-3000:]
    assert "released leadership" in b.logs()
    eventually(lambda: holder(plane, lease_name) == "op-c", timeout=30, interval=0.2, what="op-c holds the Lease")
    print(f"\nMEASURED leader SIGTERMed: the standby holds the Lease after {time.monotonic() - stopped:.1f} s")
    taken = lease(plane, lease_name)
    # Taken over because it was released, not because it expired.
    assert spec_time(taken, "acquireTime") < renewed + LEASE_DURATION, json.dumps(taken["spec"])
    plane.apply(ns, livestream("three"))
    eventually(lambda: reconciled(plane, ns, "three"), timeout=60, what="stream three reconciled by op-c")
    assert reconciles(c, ns, "three")


def test_a_leader_that_lost_its_lease_stops(plane: Cluster, replicas: Start, lease_name: str, namespace: str) -> None:
    """Someone else holds the Lease now (here: the test writes it, as a leader elsewhere would after
    a partition): the operator stops reconciling and exits non-zero."""
    ns = namespace
    c = replicas("op-c")
    eventually(lambda: holder(plane, lease_name) == "op-c", timeout=30, what="op-c holds the Lease")
    plane.apply(ns, livestream("four"))
    eventually(lambda: reconciled(plane, ns, "four"), timeout=60, what="stream four reconciled")
    now = micro_time(datetime.now(UTC))
    patch = {"spec": {"holderIdentity": "elsewhere", "renewTime": now, "acquireTime": now}}
    plane.patch("lease", OPERATOR_NAMESPACE, lease_name, patch)
    assert c.process is not None
    assert c.process.wait(timeout=30) == LOST_LEADERSHIP_EXIT, c.logs()[-3000:]
    assert "lost leadership" in c.logs()
    plane.apply(ns, livestream("five"))
    with pytest.raises(AssertionError):
        eventually(lambda: plane.get("pods", ns, "five-ingest"), timeout=5, what="no operator reconciles five")
    assert holder(plane, lease_name) == "elsewhere"
