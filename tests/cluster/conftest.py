"""Cluster suite: a real etcd + kube-apiserver + kube-controller-manager (hack/controlplane.py),
started once per test session on 127.0.0.1 and stopped at the end, with the CRDs from crds/
applied by kubectl and the operator run as a real `streamops operator` process.

No kubelet runs in this tier: Pods stay unscheduled unless a test sets their status itself
(as a kubelet would) through the pods/status subresource, or runs the Pod's worker as a local
process (local_pods.py).

The operator runs as it would in a cluster: under its own ServiceAccount bound to exactly the
ClusterRole of streamops.control.rbac (a missing permission fails the tests), with worker Pods
on the host network (STREAMOPS_HOST_NETWORK=true, ports from a private STREAMOPS_PORT_RANGE,
workers reached at 127.0.0.1) so that a test can stand in for the kubelet with real workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

from controlplane import ControlPlane  # noqa: E402
from kubectl import Kubectl  # noqa: E402
from local_pods import LocalPods  # noqa: E402

T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.2, what: str = "") -> T:
    """Poll until probe() is truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}: last value {value!r}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster(Kubectl):
    """kubectl (hack/kubectl.py) and the Python client as the cluster admin."""

    def __init__(self, plane: ControlPlane) -> None:
        super().__init__(plane.kubectl, plane.kubeconfig, timeout=60)
        self.plane = plane
        client = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
        self.core = kubernetes.client.CoreV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)


# A private slice of ports for hostNetwork workers, below the kernel's ephemeral range (where
# free_port() and the control plane take theirs), different per test session.
PORT_BASE = 20000 + (os.getpid() % 30) * 300
OPERATOR_ENV = {
    "STREAMOPS_RESYNC_SECONDS": "10",
    "STREAMOPS_HOST_NETWORK": "true",
    "STREAMOPS_PORT_RANGE": f"{PORT_BASE}-{PORT_BASE + 299}",
    "STREAMOPS_WORKER_ADDRESS": "127.0.0.1",
    "STREAMOPS_WORKER_BIND_ADDRESS": "127.0.0.1",
    "STREAMOPS_METRICS_WRITE_SECONDS": "2",
}
OPERATOR_NAMESPACE = "streamops-system"


def operator_kubeconfig(cluster: Cluster, path: Path) -> Path:
    """A kubeconfig for the operator's ServiceAccount, bound to the ClusterRole from rbac.py."""
    from streamops.control.rbac import operator_rbac_objects

    objects = operator_rbac_objects(OPERATOR_NAMESPACE)
    return cluster.plane.service_account_kubeconfig(path, OPERATOR_NAMESPACE, "streamops", objects)


class Operator:
    """`streamops operator` as a real process, logs kept in a file the tests can search."""

    def __init__(self, cluster: Cluster, log: Path, kubeconfig: Path | None = None) -> None:
        self.cluster = cluster
        self.log = log
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **OPERATOR_ENV}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamops",
                    "operator",
                    "--verbose",
                    "--liveness",
                    f"http://127.0.0.1:{self.port}/healthz",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        eventually(self._healthy, timeout=60, what="operator liveness endpoint")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}:\n{self.logs()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    plane.start()
    try:
        c = Cluster(plane)
        c.kubectl("apply", "-f", str(REPO / "crds"))
        c.kubectl(
            "wait",
            "--for",
            "condition=Established",
            "--timeout=60s",
            "crd",
            "-l",
            "app.kubernetes.io/part-of=streamops",
        )
        yield c
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    workdir = tmp_path_factory.mktemp("operator")
    op = Operator(cluster, workdir / "operator.log", operator_kubeconfig(cluster, workdir / "kubeconfig"))
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def local_pods(cluster: Cluster, tmp_path: Path) -> Iterator[LocalPods]:
    """Worker Pods run as local processes (see local_pods.py); all stopped at teardown."""
    pods = LocalPods(cluster, tmp_path)
    try:
        yield pods
    finally:
        pods.stop_all()
