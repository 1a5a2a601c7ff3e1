"""The whole local stack on one host-network node: control plane (devtools.cluster.controlplane) +
node (devtools.cluster.node: containerd, runc, kubelet, kube-scheduler) + the operator as a real
process; worker Pods really run by the kubelet from the locally built worker image.

Used by the e2e tests (tests/e2e/node) and bench/e2e.py; needs the project venv (PyYAML). Every
process it starts is stopped by PID in stop(), which also runs when start() fails half-way. No CNI:
worker Pods on the host network at 127.0.0.1, recordings on a hostPath PersistentVolume per
namespace (docs/design/local-cluster.md, "The single host-network node").
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.kubectl import Kubectl
from devtools.cluster.node import Node
from devtools.cluster.operator_process import OperatorProcess
from devtools.cluster.recordings_volume import provide_recordings_volume
from devtools.ports import LOOPBACK
from devtools.versions import REPO


@dataclass
class Timings:
    """Named durations in seconds, measured by whoever uses the harness (the bench reads them)."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> float:
        self.values.setdefault(name, []).append(round(seconds, 3))
        return seconds


class Stack(Kubectl):
    """Control plane + node + operator rooted in `dir` (kubectl as its admin: devtools.cluster.kubectl)."""

    def __init__(self, dir: Path, port_range: str, *, reuse: bool = False) -> None:
        self.dir = Path(dir).resolve()
        self.port_range = port_range
        self.reuse = reuse  # adopt a running control plane/node in dir (the demo's KEEP=1)
        self.plane = ControlPlane(self.dir)
        super().__init__(self.plane.kubectl, self.plane.kubeconfig)
        self.node = Node(self.dir, self.plane)
        self.operator_log = self.dir / "logs" / "operator.log"
        self.operator = OperatorProcess(
            self.plane.kubeconfig, self.operator_log, cwd=self.dir, pid_file=self.dir / "operator.pid"
        )
        self.timings = Timings()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Stack:
        try:
            began = time.monotonic()
            self.plane.start()
            self.timings.add("control plane start", time.monotonic() - began)
            self.kubectl("apply", "-f", str(REPO / "crds"))
            self.wait_established(selector="app.kubernetes.io/part-of=streamops")
            began = time.monotonic()
            self.node.start()
            self.timings.add("node start (images, containerd, kubelet Ready)", time.monotonic() - began)
            self.start_operator()
        except BaseException:
            self.stop()
            raise
        return self

    def operator_env(self) -> dict[str, str]:
        return {
            "STREAMOPS_RESYNC_SECONDS": "10",
            "STREAMOPS_HOST_NETWORK": "true",
            "STREAMOPS_PORT_RANGE": self.port_range,
            "STREAMOPS_WORKER_ADDRESS": LOOPBACK,
            "STREAMOPS_WORKER_BIND_ADDRESS": LOOPBACK,
            "STREAMOPS_WORKER_IMAGE": self.node.worker_image,
            "STREAMOPS_WORKER_IMAGE_PULL_POLICY": "Never",
            "STREAMOPS_METRICS_WRITE_SECONDS": "2",
            # The Restream targets of the node's tests (nginx-rtmp) listen on 127.0.0.1: the one
            # address the egress guard lets through here, as an admin's allow-list would.
            "STREAMOPS_EGRESS_ALLOW_CIDRS": '["127.0.0.1/32"]',
        }

    def start_operator(self) -> None:
        self.operator.env = self.operator_env()
        self.operator.start()

    def stop_operator(self) -> None:
        self.operator.stop()

    def stop(self, purge: bool = False) -> list[str]:
        """Stop everything; returns what was left behind (empty when clean). `purge` also drops
        the node's image store (≈1.5 GB; a throwaway test directory should not keep it)."""
        with contextlib.suppress(Exception):
            self.stop_operator()
        self.node.stop(purge=purge)
        self.plane.stop()
        return self.node.leftovers()

    def detach(self) -> None:
        """Leave everything running after this process exits (`make demo KEEP=1`)."""
        self.node.detach()
        self.plane.detach()
        self.operator.process = None  # keeps running; operator.pid names it (`make cluster-down`)

    def operator_logs(self) -> str:
        return self.operator.logs()

    # -- API ------------------------------------------------------------------------------

    def diagnose(self, ns: str) -> str:
        """Pods, their recent logs and the operator's: what a failing test prints."""
        out = [self.kubectl("get", "pods,lst,rec,rst", "-n", ns, "-o", "wide", check=False).stdout]
        for pod in self.list("pods", ns):
            name = pod["metadata"]["name"]
            logs = self.kubectl("logs", "-n", ns, name, "--tail=25", check=False)
            out.append(f"--- logs of {name}:\n{logs.stdout}{logs.stderr}")
        out.append("--- operator log tail:\n" + "\n".join(self.operator_logs().splitlines()[-25:]))
        return "\n".join(out)

    # -- namespaces and recordings ---------------------------------------------------------

    def create_namespace(self, name: str) -> Path:
        """A namespace and the hostPath volume its recordings PVC binds to; returns that directory."""
        self.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return self.recordings_volume(name)

    def recordings_volume(self, namespace: str) -> Path:
        return provide_recordings_volume(self, self.dir / "recordings" / namespace, namespace)

    def delete_namespace(self, name: str) -> None:
        for plural, obj in (("namespaces", name), ("persistentvolumes", f"recordings-{name}")):
            with contextlib.suppress(AssertionError):  # a teardown: gone already, or the server stopped
                self.delete(plural, "", obj)

    def container_id(self, ns: str, pod: str) -> str:
        obj = self.get("pods", ns, pod)
        assert obj, pod
        [status] = obj["status"]["containerStatuses"]
        return str(status["containerID"]).removeprefix("containerd://")

    def kill_container(self, ns: str, pod: str) -> None:
        """SIGKILL the Pod's container process through containerd (the kubelet then restarts it)."""
        self.node.ctr("tasks", "kill", "--signal", "SIGKILL", self.container_id(ns, pod))
