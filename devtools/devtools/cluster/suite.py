"""The cluster suite's view of a control plane: kubectl and the Python client as the admin, the
operator's settings and ServiceAccount, and the operator as a real process (tests/cluster).

The operator runs as it would in a cluster: under its own ServiceAccount bound to exactly the
ClusterRole of streamops.control.runtime.rbac (a missing permission fails the tests), with worker Pods
on the host network (STREAMOPS_HOST_NETWORK=true, ports from a private STREAMOPS_PORT_RANGE,
workers reached at 127.0.0.1) so that a test can stand in for the kubelet with real workers
(devtools.cluster.local_pods). `python -m pytest -p devtools.chart_rbac_plugin` replaces
operator_kubeconfig() to run it under the chart's RBAC instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import kubernetes

from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.kubectl import Kubectl
from devtools.cluster.operator_process import OperatorProcess
from devtools.versions import REPO

# A private slice of ports for hostNetwork workers, below the kernel's ephemeral range and above
# free_port()'s 10300-19999 (devtools/ports.py), different per test session.
PORT_BASE = 20000 + (os.getpid() % 30) * 300
OPERATOR_ENV = {
    # An object without a running worker looked at, and every object resynced, every 5 s (the
    # operator's defaults: 10 s and 120 s): what only such a look notices (a Secret a spec names
    # created or fixed: the operator watches no Secrets) is seen within 5 s where tests wait for it.
    "STREAMOPS_RESYNC_SECONDS": "5",
    "STREAMOPS_IDLE_INTERVAL_SECONDS": "5",
    "STREAMOPS_HOST_NETWORK": "true",
    "STREAMOPS_PORT_RANGE": f"{PORT_BASE}-{PORT_BASE + 299}",
    "STREAMOPS_WORKER_ADDRESS": "127.0.0.1",
    "STREAMOPS_WORKER_BIND_ADDRESS": "127.0.0.1",
    "STREAMOPS_METRICS_WRITE_SECONDS": "2",
    # Retention with a 20 s day, looked at every second (tests/cluster/test_recording_storage.py: its
    # videos and originals expire while the test watches). Only Recordings with deleteAfterDays or
    # keepOrigin read them, none elsewhere in the suite: set for the session, that module needs no
    # restart of its own to set them (an operator stop and start, ≈5 s of a loaded machine's wall).
    "STREAMOPS_RETENTION_DAY_SECONDS": "20",
    "STREAMOPS_RETENTION_INTERVAL_SECONDS": "1",
    # Webhook receivers and overlay pages of the tests listen on 127.0.0.1: the one address the
    # egress guard (docs/design/egress.md) lets through, as an admin's allow-list would.
    "STREAMOPS_EGRESS_ALLOW_CIDRS": '["127.0.0.1/32"]',
    # WHIP at the ingests' loopback HTTP ports (no TLS here): allowed, as an admin would for a test cluster.
    "STREAMOPS_PUBLISH_OVER_HTTP": "true",
    # The exposure tests ask for LoadBalancer Services and chosen nodePorts, as a cluster's admin may
    # let tenants do (chart values tenancy.allowLoadBalancer, which implies allowNodePort, and
    # tenancy.allowFixedNodePorts); every other tenancy rule is the product's default.
    "STREAMOPS_TENANCY_ALLOW_LOAD_BALANCER": "true",
    "STREAMOPS_TENANCY_ALLOW_FIXED_NODE_PORTS": "true",
}
OPERATOR_NAMESPACE = "streamops-system"


class Cluster(Kubectl):
    """kubectl (devtools.cluster.kubectl) and the Python client as the cluster admin."""

    def __init__(self, plane: ControlPlane) -> None:
        super().__init__(plane.kubectl, plane.kubeconfig, timeout=60)
        self.plane = plane
        client = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
        self.core = kubernetes.client.CoreV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)

    def apply_crds(self) -> None:
        """crds/ applied and Established."""
        self.kubectl("apply", "-f", str(REPO / "crds"))
        self.wait_established(selector="app.kubernetes.io/part-of=streamops")


@contextlib.contextmanager
def started_cluster(directory: Path) -> Iterator[Cluster]:
    """A control plane started in `directory` with crds/ applied, as the admin sees it; stopped
    after the block."""
    plane = ControlPlane(directory)
    plane.start()
    try:
        cluster = Cluster(plane)
        cluster.apply_crds()
        yield cluster
    finally:
        plane.stop()


def operator_kubeconfig(cluster: Cluster, path: Path, duration: str = "24h") -> Path:
    """A kubeconfig for the operator's ServiceAccount, bound to the ClusterRole from rbac.py (the
    cluster suite's and the benchmarks')."""
    from streamops.control.runtime.rbac import operator_rbac_objects

    objects = operator_rbac_objects(OPERATOR_NAMESPACE)
    return cluster.plane.service_account_kubeconfig(path, OPERATOR_NAMESPACE, "streamops", objects, duration)


class Operator(OperatorProcess):
    """`streamops operator --verbose` with the suite's OPERATOR_ENV (read at each start)."""

    def __init__(self, cluster: Cluster, log: Path, kubeconfig: Path | None = None) -> None:
        super().__init__(kubeconfig or cluster.kubeconfig, log, OPERATOR_ENV)
        self.cluster = cluster
