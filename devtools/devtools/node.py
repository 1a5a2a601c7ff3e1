#!/usr/bin/env python3
"""A real node beside the local control plane: containerd + runc + kubelet (+ kube-scheduler).

    python -m devtools.node up     --dir DIR     # after `python -m devtools.controlplane up --dir DIR`
    python -m devtools.node status --dir DIR
    python -m devtools.node down   --dir DIR

    from devtools.node import Node
    with ControlPlane(d) as cp, Node(d, cp) as node:
        ...  # node.worker_image: the tag to put in Pods

What it does, following what is known to work on these machines (issue 5):

- images (devtools.images): the pause image and the worker image, built from a debootstrapped
  root filesystem and cached by content hash, imported with `ctr -n k8s.io images import`
  (skipped when containerd already has the tag);
- containerd with its own config, root, state and socket under DIR/node (the host's containerd,
  if any, is not touched), cgroupfs, `restrict_oom_score_adj = true` (this machine lacks
  CAP_SYS_RESOURCE), the local pause image as sandbox image;
- no pod network: the CNI config is loopback only, so the node reports Ready and Pods with
  `hostNetwork: true` run (Pods without it fail sandbox setup: there is no network to give them);
  every listener is on 127.0.0.1;
- kube-scheduler (the control plane has none) and the kubelet: `--hostname-override=localhost`
  (the API server prefers Hostname addresses, so logs/exec dial localhost), cgroupfs under a
  cgroup root of its own, fail-swap-on off, client and serving certificates signed by the
  control plane's CA, a static config file, its root dir and pod logs under DIR/node.

`down` stops the kubelet and the scheduler, kills every container and shim containerd started
(by the pids it recorded), stops containerd, unmounts whatever is still mounted under DIR/node,
removes the node's cgroups and runtime state. containerd's image store (DIR/node/containerd/root)
is kept so the next `up` skips the import; `down --purge` removes it too.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

from devtools.controlplane import ControlPlane, ControlPlaneError
from devtools.images import Image, ImageBuilder, unmount_under
from devtools.kubectl import Kubectl
from devtools.pki import CLIENT, PkiError, ensure_leaves, write_kubeconfig
from devtools.ports import LOOPBACK, free_port
from devtools.processes import (
    Proc,
    ProcessRegistry,
    StartError,
    Supervisor,
    alive,
    print_status,
    stat_fields,
    stop_procs,
)

NODE_NAME = "localhost"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
CGROUP_FS = Path("/sys/fs/cgroup")


class NodeError(ControlPlaneError):
    pass


def _find(binary: str, hint: str) -> str:
    found = shutil.which(binary)
    if not found:
        raise NodeError(f"{binary} not found: {hint}")
    return found


class Node(Supervisor):
    """containerd + kubelet + kube-scheduler rooted in `dir`/node, joined to `plane`."""

    def __init__(self, dir: Path, plane: ControlPlane, *, builder: ImageBuilder | None = None) -> None:
        self.dir = Path(dir).resolve()
        self.plane = plane
        self.root = self.dir / "node"
        self.logs = self.dir / "logs"
        self.pid_file = self.root / "pids.json"
        self.containerd_root = self.root / "containerd" / "root"
        self.containerd_state = self.root / "containerd" / "state"
        self.socket = self.root / "containerd" / "containerd.sock"
        self.kubelet_root = self.root / "kubelet"
        self.pod_logs = self.root / "pod-logs"
        # One cgroup root per node dir, so two nodes (a demo and a test run) never share pods' cgroups.
        self.cgroup_root = "/streamops-" + hashlib.sha256(str(self.dir).encode()).hexdigest()[:8]
        self.builder = builder or ImageBuilder()
        self.images: list[Image] = []
        self.worker_image = ""
        self.procs = ProcessRegistry(self.pid_file, self.logs, self.stop)

    # -- public ---------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> Self:
        """Build/import the images, start containerd, the scheduler and the kubelet, wait for the
        node to be Ready. Idempotent: a node already running from this dir is adopted."""
        pause, worker = self.builder.pause(), self.builder.worker()
        self.images, self.worker_image = [pause, worker], worker.short
        if self._adopt():
            return self
        self.stop()
        try:
            self._start(pause, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def stop(self, purge: bool = False) -> None:
        procs = self.procs.recorded()
        # The kubelet first (it would restart what we kill), then the containers and their shims,
        # then containerd: it must not see its shims die and try to clean up half-way.
        stop_procs([p for p in procs if p.name in ("kubelet", "kube-scheduler")])
        self._kill_containers()
        stop_procs([p for p in procs if p.name == "containerd"])
        self._kill_containers()  # anything containerd started while we were stopping it
        self._unmount()
        self._remove_cgroups()
        shutil.rmtree(self.containerd_state, ignore_errors=True)
        shutil.rmtree(self.kubelet_root, ignore_errors=True)
        if purge:
            shutil.rmtree(self.root, ignore_errors=True)
        self.procs.forget()

    def status(self) -> dict[str, bool]:
        st = self.procs.status()
        self.worker_image = self.worker_image or self.procs.meta.get("worker_image", "")
        return st

    def leftovers(self) -> list[str]:
        """Mounts under the node dir and live processes recorded for it (empty after stop())."""
        out = [f"mount {m}" for m in self._mounts()]
        out += [f"process {p.name} {p.pid}" for p in self.procs.read() if p.alive]
        out += [f"shim/container {pid}" for pid in self._container_pids() if alive(pid)]
        return out

    def ctr(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    # -- start ----------------------------------------------------------------------------

    def _start(self, pause: Image, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        containerd = _find("containerd", "run `make deps` (Debian package containerd)")
        _find("runc", "run `make deps` (Debian package runc)")
        _find("ctr", "run `make deps` (Debian package containerd)")
        kubelet = self.plane.bin_dir / "kubelet"
        scheduler = self.plane.bin_dir / "kube-scheduler"
        for b in (kubelet, scheduler):
            if not os.access(b, os.X_OK):
                raise NodeError(f"{b} missing: run `make kube` (hack/build-kube.sh kubelet kube-scheduler)")
        if not self.plane.server:
            self.plane.status()  # reads the server address from the control plane's pid file
        if not self.plane.server:
            raise NodeError("the control plane is not running: start it first")
        for d in (self.root, self.logs, self.containerd_root, self.containerd_state, self.kubelet_root, self.pod_logs):
            d.mkdir(parents=True, exist_ok=True)
        self._certs()
        self._cgroups()
        cfg = self._write_containerd_config(pause)
        self._spawn("containerd", [containerd, "--config", str(cfg)])
        self._wait(lambda: self._ctr_ok(), deadline, "containerd's socket", "containerd")
        self._import_images()
        self._spawn("kube-scheduler", [
            str(scheduler), f"--kubeconfig={self.root / 'scheduler.kubeconfig'}",
            "--leader-elect=false", f"--bind-address={LOOPBACK}", "--secure-port=0",
        ])  # fmt: skip
        kubelet_cfg = self._write_kubelet_config()
        self._spawn("kubelet", [
            str(kubelet), f"--config={kubelet_cfg}", f"--kubeconfig={self.root / 'kubelet.kubeconfig'}",
            f"--hostname-override={NODE_NAME}", f"--root-dir={self.kubelet_root}", "--v=1",
        ])  # fmt: skip
        self._wait(self._node_ready, deadline, "node localhost Ready", "kubelet")

    def _certs(self) -> None:
        pki = self.plane.pki
        client = CLIENT
        serving = (
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            f"subjectAltName=DNS:{NODE_NAME},IP:{LOOPBACK}\n"
        )
        leaves = {
            "kubelet-client": (f"/O=system:nodes/CN=system:node:{NODE_NAME}", client),
            "kubelet-serving": (f"/CN={NODE_NAME}", serving),
            "scheduler": ("/CN=system:kube-scheduler", client),
        }
        try:
            ensure_leaves(pki, leaves)
        except PkiError as e:
            raise NodeError(str(e)) from None
        server = self.plane.server
        write_kubeconfig(self.root / "kubelet.kubeconfig", server, pki, f"system:node:{NODE_NAME}", "kubelet-client")
        write_kubeconfig(self.root / "scheduler.kubeconfig", server, pki, "system:kube-scheduler", "scheduler")

    def _cgroup_dirs(self) -> list[Path]:
        """The node's cgroup root in every mounted v1 hierarchy (cgroup v2: the single tree)."""
        if (CGROUP_FS / "cgroup.controllers").exists():
            return [CGROUP_FS / self.cgroup_root.lstrip("/")]
        out = []
        for h in sorted(CGROUP_FS.iterdir()):
            if h.is_dir() and not h.is_symlink() and (h / "cgroup.procs").exists():
                out.append(h / self.cgroup_root.lstrip("/"))
        return out

    def _cgroups(self) -> None:
        for d in self._cgroup_dirs():
            d.mkdir(exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset cgroup cannot hold tasks
                if (d / f).exists() and not (d / f).read_text().strip():
                    (d / f).write_text((d.parent / f).read_text())

    def _write_containerd_config(self, pause: Image) -> Path:
        cni_conf = self.root / "cni"
        cni_conf.mkdir(exist_ok=True)
        (cni_conf / "10-loopback.conflist").write_text(
            json.dumps({"cniVersion": "1.0.0", "name": "streamops-loopback", "plugins": [{"type": "loopback"}]})
        )
        cni_bin = next((d for d in CNI_BIN_DIRS if Path(d, "loopback").exists()), None)
        if cni_bin is None:
            raise NodeError("the CNI loopback plugin is missing: run `make deps` (containernetworking-plugins)")
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        text = f"""version = 2
root = "{self.containerd_root}"
state = "{self.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.root / "containerd" / "opt"}"

[{cri}]
  sandbox_image = "{pause.tag}"
  restrict_oom_score_adj = true
  stream_server_address = "{LOOPBACK}"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{cni_bin}"
  conf_dir = "{cni_conf}"
  max_conf_num = 1
"""
        path = self.root / "containerd.toml"
        path.write_text(text)
        return path

    def _write_kubelet_config(self) -> Path:
        pki = self.plane.pki
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": LOOPBACK,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": LOOPBACK,
            "healthzPort": free_port(),
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "failCgroupV1": False,
            "failSwapOn": False,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": False},
                "x509": {"clientCAFile": str(pki / "ca.crt")},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "tlsCertFile": str(pki / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
            "podLogsDir": str(self.pod_logs),
            "resolvConf": "/etc/resolv.conf",
            "clusterDomain": "cluster.local",
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            # A shared development machine: never evict the node's pods for the host's disk/memory.
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 99,
            "imageGCLowThresholdPercent": 98,
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "nodeStatusUpdateFrequency": "5s",
            "registerNode": True,
            "shutdownGracePeriod": "0s",
            "volumeStatsAggPeriod": "0s",
        }
        path = self.root / "kubelet.yaml"
        path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        return path

    def _import_images(self, prune: bool = True) -> None:
        have = set(self.ctr("images", "ls", "-q").split())
        for image in self.images:
            if image.tag in have:
                continue
            began = time.monotonic()
            self.ctr("images", "import", "--snapshotter", "overlayfs", str(image.archive), timeout=600)
            print(f"# imported {image.short} in {time.monotonic() - began:.1f}s", file=sys.stderr)
        for old in have - {i.tag for i in self.images} if prune else ():
            if old.startswith(("docker.io/library/streamops-worker:", "docker.io/library/streamops-pause:")):
                with contextlib.suppress(NodeError):
                    self.ctr("images", "rm", old)

    # -- stop -----------------------------------------------------------------------------

    def _bundles(self) -> list[Path]:
        base = self.containerd_state / "io.containerd.runtime.v2.task"
        return [b for b in base.glob("*/*") if b.is_dir()] if base.is_dir() else []

    def _container_pids(self) -> list[int]:
        """Container init processes (init.pid in each bundle), their shims (each init's parent: the
        shim is its subreaper) and any shim serving this node's socket (its command line names it)."""
        pids: set[int] = set()
        for bundle in self._bundles():
            with contextlib.suppress(OSError, ValueError):
                init = int((bundle / "init.pid").read_text().strip())
                pids.add(init)
                pids.add(int(stat_fields(init)[1]))
        marker = f"-address\0{self.socket}\0".encode()
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if marker in (proc / "cmdline").read_bytes():
                        pids.add(int(proc.name))
        pids.discard(1)
        pids.discard(os.getpid())
        return sorted(pids)

    def _kill_containers(self) -> None:
        pids = [p for p in self._container_pids() if alive(p)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _mounts(self) -> list[str]:
        prefix = str(self.root) + "/"
        out = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix):
                    out.append(point)
        return out

    def _unmount(self) -> None:
        unmount_under(self.root)

    def _remove_cgroups(self) -> None:
        for top in self._cgroup_dirs():
            if not top.is_dir():
                continue
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()

    # -- processes ------------------------------------------------------------------------

    def _adopt(self) -> bool:
        if self.procs.adopt({"containerd", "kubelet", "kube-scheduler"}):
            self._import_images(prune=False)  # a changed worker image reaches a running node
            self.procs.meta["worker_image"] = self.worker_image
            self.procs.write()
            return True
        return False

    def _spawn(self, name: str, argv: Sequence[str]) -> Proc:
        self.procs.meta["worker_image"] = self.worker_image
        return self.procs.spawn(name, argv, cwd=self.root)

    def _wait(self, probe: Callable[[], bool], deadline: float, what: str, blame: str) -> None:
        try:
            self.procs.wait(probe, deadline, what, blame)
        except StartError as e:
            raise NodeError(str(e)) from None

    def _ctr_ok(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            self.ctr("version", timeout=10)
        except (NodeError, subprocess.TimeoutExpired):
            return False
        return True

    def _node_ready(self) -> bool:
        admin = Kubectl(self.plane.kubectl, self.plane.kubeconfig, timeout=30)
        jsonpath = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        return admin.kubectl("get", "node", NODE_NAME, "-o", jsonpath, check=False).stdout.strip() == "True"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, required=True, help="the control plane's state directory")
        if name == "up":
            p.add_argument("--timeout", type=float, default=180.0)
        if name == "down":
            p.add_argument("--purge", action="store_true", help="also remove containerd's image store")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.dir)
    node = Node(args.dir, plane)
    if args.cmd == "up":
        if not plane.is_up():
            print(
                "error: the control plane in --dir is not running (python -m devtools.controlplane up)", file=sys.stderr
            )
            return 1
        began = time.monotonic()
        try:
            node.start(timeout=args.timeout)
        except ControlPlaneError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        node.detach()
        plane.detach()
        print(f"# node {NODE_NAME} Ready in {time.monotonic() - began:.1f}s", file=sys.stderr)
        # What the operator needs to run workers on this node (`make operator` reads the environment).
        print(
            "export STREAMOPS_HOST_NETWORK=true STREAMOPS_PORT_RANGE=32000-32199 STREAMOPS_WORKER_ADDRESS=127.0.0.1"
            f" STREAMOPS_WORKER_BIND_ADDRESS=127.0.0.1 STREAMOPS_WORKER_IMAGE={node.worker_image}"
            " STREAMOPS_WORKER_IMAGE_PULL_POLICY=Never"
        )
        return 0
    if args.cmd == "down":
        began = time.monotonic()
        node.stop(purge=args.purge)
        left = node.leftovers()
        print(f"# node stopped in {time.monotonic() - began:.1f}s", file=sys.stderr)
        if left:
            print("error: left behind: " + ", ".join(left), file=sys.stderr)
            return 1
        return 0
    st = node.status()
    return print_status(st, f"worker image: {node.worker_image}")


if __name__ == "__main__":
    sys.exit(main())
