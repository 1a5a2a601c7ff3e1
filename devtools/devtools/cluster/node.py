#!/usr/bin/env python3
"""A real node beside the local control plane: containerd + runc + kubelet (+ kube-scheduler).

    python -m devtools.cluster.node up     --dir DIR     # after `python -m devtools.cluster.controlplane up --dir DIR`
    python -m devtools.cluster.node status --dir DIR
    python -m devtools.cluster.node down   --dir DIR [--purge]

    with ControlPlane(d) as cp, Node(d, cp) as node: ...  # node.worker_image: the tag to put in Pods

Its own containerd, kubelet and cgroup root under DIR/node (DIR/nodes/node-N inside its namespaces
in the pod-network cluster), with the images of devtools.cluster.images imported. Alone it is the
host-network node `localhost`: no pod network, hostNetwork Pods only. `down` stops and removes all
of it but containerd's image store (`--purge`: that too). How and why: docs/design/local-cluster.md,
"The single host-network node".
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

from devtools import netns
from devtools.address_plan import CLUSTER_CIDR, CLUSTER_DOMAIN, DNS_IP
from devtools.cluster.controlplane import NODE_LEASE_SECONDS, ControlPlane, ControlPlaneError
from devtools.cluster.images import Image, ImageBuilder, unmount_under
from devtools.cluster.kubectl import Kubectl
from devtools.cluster.network import NodeAddress
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
from devtools.versions import kube_network_policies_bin

NODE_NAME = "localhost"
# The NetworkPolicy engine of pod-network nodes (hack/build-kube-network-policies.sh): its identity,
# the permissions its upstream install.yaml gives it, and the nftables table it keeps in the node's
# network namespace (deleted by the engine when stopped, and with the namespace in any case).
POLICY_ENGINE = "kube-network-policies"
POLICY_ENGINE_USER = "system:kube-network-policies"
POLICY_ENGINE_TABLE = ("inet", "kube-network-policies")
POLICY_ENGINE_RULES = [
    {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
    {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
]
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
# The kubelet evicts every Pod of a node whose disk has less than this available (evictionHard).
EVICTION_DISK_FLOOR = "500Mi"
# What a node needs free to start: a test session writes ≈2 GiB (images, Pods' logs and volumes,
# recordings) beside its cluster's, and pytest keeps the last three sessions' directories.
DISK_HEADROOM_BYTES = 6 << 30


def disk_headroom_problem(root: Path) -> str | None:
    """Why a node rooted in `root` should not start for lack of disk, or None. On 2026-11-27 a run
    started with 3.8 GiB available (old runs' directories under /tmp): the kubelets, then at a 1%
    eviction threshold, evicted the operator for DiskPressure halfway and a dozen tests failed in
    ways that named neither the disk nor the cause."""
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free >= DISK_HEADROOM_BYTES:
        return None
    return (
        f"{free / (1 << 30):.1f} GiB available on the filesystem of {root}; a node needs"
        f" {DISK_HEADROOM_BYTES >> 30} GiB to run a test session or a demo: free some space (old"
        " test sessions' directories under /tmp/pytest-of-*, `make clean`, stale clones)"
    )


CRI_STARTED = 'msg="Start streaming server"'  # containerd 1.6's CRI service, just before it serves
CGROUP_FS = Path("/sys/fs/cgroup")


def node_cpu_weight() -> dict[str, int]:
    """The CPU weight of a node's cgroup root, in both cgroup versions' files: a machine's worth.

    A new cgroup weighs what one busy process at nice 0 does (v1 cpu.shares 1024, v2 cpu.weight
    100), so all of a node's Pods together weighed as much as one host session (the kernel's
    autogroups): beside six busy sessions the edge autoscaling test's viewers lost 4-9 s, with this
    weight at most 1.2 s (docs/design/local-cluster.md). A node is a machine of the host's cores,
    and weighs as many busy processes.
    """
    n = os.cpu_count() or 1
    return {"cpu.shares": 1024 * n, "cpu.weight": min(100 * n, 10000)}


DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")  # the kubelet's, hard-coded


class NodeError(ControlPlaneError):
    pass


def _find(binary: str, hint: str) -> str:
    found = shutil.which(binary)
    if not found:
        raise NodeError(f"{binary} not found: {hint}")
    return found


class Node(Supervisor):
    """containerd + kubelet + kube-scheduler rooted in `dir`/node, joined to `plane`."""

    def __init__(
        self,
        dir: Path,
        plane: ControlPlane,
        *,
        builder: ImageBuilder | None = None,
        address: NodeAddress | None = None,
        extra_images: Callable[[], Sequence[Image]] | None = None,
        registry: str | None = None,
        policy_engine: bool = True,
    ) -> None:
        """`address`: a node of the pod-network cluster (devtools.cluster.network), run inside its namespace
        with kube-proxy, the CNI bridge and (`policy_engine`) kube-network-policies enforcing
        NetworkPolicies; without it, the single host-network node `localhost`.
        `extra_images`: more images to import (the cluster add-ons').
        `registry`: host:port of the cluster's plain-HTTP registry on its LAN (devtools.cluster.lan_registry):
        containerd is told to speak HTTP to that host alone, and the worker image is not imported (the
        kubelet pulls it from there, as it pulls the operator's and the others of the chart)."""
        self.dir = Path(dir).resolve()
        self.plane = plane
        self.address = address
        self.registry = registry
        self.policy_engine = policy_engine
        self.name = address.name if address else NODE_NAME
        self.extra_images = extra_images
        self.root = self.dir / "nodes" / self.name if address else self.dir / "node"
        self.logs = self.dir / "logs" / self.name if address else self.dir / "logs"
        self.pid_file = self.root / "pids.json"
        self.containerd_root = self.root / "containerd" / "root"
        self.containerd_state = self.root / "containerd" / "state"
        self.socket = self.root / "containerd" / "containerd.sock"
        self.kubelet_root = self.root / "kubelet"
        self.pod_logs = self.root / "pod-logs"
        # One cgroup root per node, so two nodes (of one cluster, or a demo and a test run) never
        # share Pods' cgroups.
        self.cgroup_root = "/streamops-" + hashlib.sha256(str(self.root).encode()).hexdigest()[:8]
        self.builder = builder or ImageBuilder()
        self.images: list[Image] = []
        self.worker_image = ""
        self.procs = ProcessRegistry(self.pid_file, self.logs, self.stop)

    # -- public ---------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> Self:
        """Build/import the images, start containerd, the scheduler and the kubelet, wait for the
        node to be Ready. Idempotent: a node already running from this dir is adopted."""
        pause, worker = self.builder.pause(), self.builder.worker()
        self.images, self.worker_image = [pause] if self.registry else [pause, worker], worker.short
        if self.extra_images is not None:
            self.images += list(self.extra_images())
        if self._adopt():
            return self
        if problem := disk_headroom_problem(self.root):
            raise NodeError(problem)
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
        # then containerd: it must not see its shims die and try to clean up half-way. Last the
        # holder of the node's mount namespace: with it go every mount the node made.
        stop_procs([p for p in procs if p.name in ("kubelet", "kube-scheduler", "kube-proxy", POLICY_ENGINE)])
        self._kill_containers()
        stop_procs([p for p in procs if p.name == "containerd"])
        self._kill_containers()  # anything containerd started while we were stopping it
        stop_procs([p for p in procs if p.name == "mounts"])
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
        return out + self.policy_engine_tables()

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
        proxy = self.plane.bin_dir / "kube-proxy"
        for b in (kubelet, proxy) if self.address else (kubelet, scheduler):
            if not os.access(b, os.X_OK):
                raise NodeError(f"{b} missing: run `make kube` (hack/build-kube.sh kubelet kube-scheduler kube-proxy)")
        if not self.plane.server:
            self.plane.status()  # reads the server address from the control plane's pid file
        if not self.plane.server:
            raise NodeError("the control plane is not running: start it first")
        for d in (self.root, self.logs, self.containerd_root, self.containerd_state, self.kubelet_root, self.pod_logs):
            d.mkdir(parents=True, exist_ok=True)
        self._certs()
        self._cgroups()
        if self.address:
            self._spawn_mount_holder(deadline)
        cfg = self._write_containerd_config(pause)
        log = self.logs / "containerd.log"
        offset = log.stat().st_size if log.exists() else 0  # the log is appended to across starts
        self._spawn("containerd", [containerd, "--config", str(cfg)])
        self._wait(lambda: self._ctr_ok(), deadline, "containerd's socket", "containerd")
        # `ctr` is answered before the CRI service is initialised (0.5 s later here, 4.8 s once on a
        # busy machine): a kubelet started in between exits with "server is not initialized yet".
        # The service logs this as its last start step, right before it serves.
        self._wait(lambda: CRI_STARTED in _read_from(log, offset), deadline, "containerd's CRI service", "containerd")
        self._import_images()
        if self.address is None:
            self._spawn("kube-scheduler", [
                str(scheduler), f"--kubeconfig={self.root / 'scheduler.kubeconfig'}",
                "--leader-elect=false", f"--bind-address={LOOPBACK}", "--secure-port=0",
            ])  # fmt: skip
        kubelet_cfg = self._write_kubelet_config()
        node_ip = [f"--node-ip={self.address.ip}"] if self.address else []
        self._spawn("kubelet", [
            str(kubelet), f"--config={kubelet_cfg}", f"--kubeconfig={self.root / 'kubelet.kubeconfig'}",
            f"--hostname-override={self.name}", f"--root-dir={self.kubelet_root}", "--v=1", *node_ip,
        ])  # fmt: skip
        if self.address:
            self._spawn("kube-proxy", [str(proxy), f"--config={self._write_proxy_config()}", "--v=1"])
            if self.policy_engine:
                self._start_policy_engine(deadline)
        self._wait(self._node_ready, deadline, f"node {self.name} Ready", "kubelet")

    def _certs(self) -> None:
        pki = self.plane.pki
        client = CLIENT
        ip = self.address.ip if self.address else LOOPBACK
        serving = (
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            f"subjectAltName=DNS:{self.name},IP:{ip}\n"
        )
        # The single node keeps its historical file names (a state dir from before stays valid).
        suffix = f"-{self.name}" if self.address else ""
        leaves = {
            f"kubelet-client{suffix}": (f"/O=system:nodes/CN=system:node:{self.name}", client),
            f"kubelet-serving{suffix}": (f"/CN={self.name}", serving),
            "scheduler": ("/CN=system:kube-scheduler", client),
            "kube-proxy": ("/CN=system:kube-proxy", client),
            POLICY_ENGINE: (f"/CN={POLICY_ENGINE_USER}", client),
        }
        try:
            ensure_leaves(pki, leaves)
        except PkiError as e:
            raise NodeError(str(e)) from None
        self.serving_cert = f"kubelet-serving{suffix}"
        server = self.plane.island_server if self.address else self.plane.server
        write_kubeconfig(
            self.root / "kubelet.kubeconfig", server, pki, f"system:node:{self.name}", f"kubelet-client{suffix}"
        )
        write_kubeconfig(self.root / "scheduler.kubeconfig", server, pki, "system:kube-scheduler", "scheduler")
        write_kubeconfig(self.root / "kube-proxy.kubeconfig", server, pki, "system:kube-proxy", "kube-proxy")
        write_kubeconfig(self.root / f"{POLICY_ENGINE}.kubeconfig", server, pki, POLICY_ENGINE_USER, POLICY_ENGINE)

    def cgroup_dirs(self) -> list[Path]:
        """The node's cgroup root in every mounted v1 hierarchy (cgroup v2: the single tree)."""
        if (CGROUP_FS / "cgroup.controllers").exists():
            return [CGROUP_FS / self.cgroup_root.lstrip("/")]
        out = []
        for h in sorted(CGROUP_FS.iterdir()):
            if h.is_dir() and not h.is_symlink() and (h / "cgroup.procs").exists():
                out.append(h / self.cgroup_root.lstrip("/"))
        return out

    def _cgroups(self) -> None:
        for d in self.cgroup_dirs():
            d.mkdir(exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset cgroup cannot hold tasks
                if (d / f).exists() and not (d / f).read_text().strip():
                    (d / f).write_text((d.parent / f).read_text())
            for f, weight in node_cpu_weight().items():
                if (d / f).exists():
                    (d / f).write_text(f"{weight}\n")

    def _write_containerd_config(self, pause: Image) -> Path:
        cni_conf = self.root / "cni"
        shutil.rmtree(cni_conf, ignore_errors=True)
        cni_conf.mkdir()
        (cni_conf / "10-streamops.conflist").write_text(json.dumps(self._cni_network()))
        needed = ("bridge", "host-local", "portmap", "loopback") if self.address else ("loopback",)
        cni_bin = next((d for d in CNI_BIN_DIRS if all(Path(d, p).exists() for p in needed)), None)
        if cni_bin is None:
            raise NodeError(f"CNI plugins {needed} missing: run `make deps` (containernetworking-plugins)")
        stream_address = self.address.ip if self.address else LOOPBACK
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
  stream_server_address = "{stream_address}"
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

[{cri}.registry]
  config_path = "{self._write_registry_hosts()}"
"""
        path = self.root / "containerd.toml"
        path.write_text(text)
        return path

    def _write_registry_hosts(self) -> Path:
        """containerd's per-registry host configuration (config_path: a directory per host:port with a
        hosts.toml). Only the cluster's registry is named, and only it is spoken to in plain HTTP;
        without a registry the directory stays empty: containerd's defaults (HTTPS), never used here
        since every other image is imported."""
        hosts = self.root / "containerd" / "certs.d"
        shutil.rmtree(hosts, ignore_errors=True)
        hosts.mkdir(parents=True)
        if self.registry:
            (hosts / self.registry).mkdir()
            (hosts / self.registry / "hosts.toml").write_text(
                f'server = "http://{self.registry}"\n\n'
                f'[host."http://{self.registry}"]\n  capabilities = ["pull", "resolve"]\n'
            )
        return hosts

    def _cni_network(self) -> dict[str, object]:
        """The single host-network node: loopback only (Pods without hostNetwork cannot start).
        A pod-network node: a bridge `cni0` in the node's namespace, addresses from its Pod range
        (host-local, state in the node's private /var/lib/cni), portmap for hostPort."""
        if self.address is None:
            return {"cniVersion": "1.0.0", "name": "streamops-loopback", "plugins": [{"type": "loopback"}]}
        bridge = {
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": True,
            "ipMasq": False,  # the node's own rule masquerades only what leaves the Pod ranges
            "hairpinMode": True,  # a Pod reaching itself through its Service
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": self.address.pod_cidr, "gateway": self.address.pod_gateway}]],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        }
        portmap = {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}
        return {"cniVersion": "1.0.0", "name": "streamops", "plugins": [bridge, portmap]}

    def _write_kubelet_config(self) -> Path:
        pki = self.plane.pki
        island = self.address is not None
        resolv = self.root / "resolv.conf"
        # No upstream resolver: the island reaches nothing outside it. Pods resolve through the
        # cluster DNS (clusterDNS); the few with dnsPolicy Default get this empty file.
        resolv.write_text("# streamops local cluster: no upstream resolver (a confined network)\n")
        dns: dict[str, object] = {"clusterDNS": [DNS_IP], "resolvConf": str(resolv)} if island else {}
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.address.ip if self.address else LOOPBACK,
            "port": 10250 if island else free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": LOOPBACK,
            "healthzPort": 10248 if island else free_port(),
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
            "tlsCertFile": str(pki / f"{self.serving_cert}.crt"),
            "tlsPrivateKeyFile": str(pki / f"{self.serving_cert}.key"),
            "podLogsDir": str(self.pod_logs),
            "resolvConf": "/etc/resolv.conf",
            "clusterDomain": CLUSTER_DOMAIN,
            **dns,
            "makeIPTablesUtilChains": False,
            "serializeImagePulls": False,
            # A shared development machine: never evict the node's pods for the host's disk/memory
            # (absolute floors: 1% of a 252G disk was 2.5G, which a loaded run went under).
            "evictionHard": {
                "memory.available": "50Mi",
                "nodefs.available": EVICTION_DISK_FLOOR,
                "imagefs.available": EVICTION_DISK_FLOOR,
            },
            "imageGCHighThresholdPercent": 99,
            "imageGCLowThresholdPercent": 98,
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            # A change of the node's status (a condition, an image pulled, a volume in use) is posted
            # within 5 s; an unchanged one only every 5 min, as Kubernetes does by default: set alone,
            # the update frequency also became the report frequency (the kubelet's backward-compatible
            # default), a full status PATCH of each node every 5 s, sent to every watcher of nodes (the
            # operator's replicas, the controllers, the policy engines). Whether a node lives is its
            # Lease's renewal (every 2 s on the pod-network cluster), not these posts.
            "nodeStatusUpdateFrequency": "5s",
            "nodeStatusReportFrequency": "5m",
            # The pod-network cluster's controller-manager calls a node lost sooner than Kubernetes'
            # (controlplane.NODE_MONITOR_GRACE_SECONDS): its Lease is renewed every 2 s, not 10 s.
            **({"nodeLeaseDurationSeconds": NODE_LEASE_SECONDS} if island else {}),
            "registerNode": True,
            "shutdownGracePeriod": "0s",
            "volumeStatsAggPeriod": "0s",
        }
        path = self.root / "kubelet.yaml"
        path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        return path

    def _write_proxy_config(self) -> Path:
        assert self.address is not None
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.root / "kube-proxy.kubeconfig")},
            "hostnameOverride": self.name,
            "mode": "iptables",
            "clusterCIDR": str(CLUSTER_CIDR),
            "bindAddress": self.address.ip,
            "healthzBindAddress": f"{LOOPBACK}:10256",
            "metricsBindAddress": f"{LOOPBACK}:10249",
            # NodePorts on the node's LAN address only (not on its loopback or the Pod bridge).
            "nodePortAddresses": [f"{self.address.ip}/32"],
            # conntrack limits are machine-wide sysctls: leave them alone (0 = do not set).
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path = self.root / "kube-proxy.yaml"
        path.write_text(json.dumps(config, indent=2) + "\n")
        return path

    def _start_policy_engine(self, deadline: float) -> None:
        """kube-network-policies in the node's namespaces, as kube-proxy runs: NetworkPolicies
        enforced on the node's Pods (an NFQUEUE verdict on each connection's first packet, in user
        space). Started before the node is Ready, so no Pod of a policy ever runs unenforced; waits
        until its caches are synced and its nftables table is written."""
        engine = kube_network_policies_bin()
        if not os.access(engine, os.X_OK):
            raise NodeError(f"{engine} missing: run `make kube-network-policies`")
        admin = Kubectl(self.plane.kubectl, self.plane.kubeconfig, timeout=30)
        role = {"name": POLICY_ENGINE_USER, "labels": {"app.kubernetes.io/part-of": "streamops-local-cluster"}}
        rbac = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": role,
             "rules": POLICY_ENGINE_RULES},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": role,
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": POLICY_ENGINE_USER},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": POLICY_ENGINE_USER}]},
        ]})  # fmt: skip
        # The nodes start side by side and apply the same objects: apply's get-then-create loses a
        # race with the other node's now and then (AlreadyExists); a second apply finds them.
        for attempt in range(3):
            result = admin.kubectl("apply", "-f", "-", input=rbac, check=False)
            if result.returncode == 0:
                break
            if "AlreadyExists" not in result.stderr or attempt == 2:
                raise NodeError(f"the policy engine's RBAC: {result.stderr.strip()}")
        self._spawn(POLICY_ENGINE, [
            str(engine), f"--kubeconfig={self.root / f'{POLICY_ENGINE}.kubeconfig'}",
            f"--hostname-override={self.name}",
            # The node's own loopback (its network namespace): nothing outside the node reaches it.
            f"--metrics-bind-address={LOOPBACK}:9080",
            # Fail closed: a Pod some policy selects gets no new connection while the engine is down.
            "--fail-open=false",
            # Only for kernels before 6.12 (this one is newer): DNS then goes through the same hook.
            "--netfilter-bug-1766-fix=false",
            "--v=1",
        ])  # fmt: skip
        log = self.logs / f"{POLICY_ENGINE}.log"
        self._wait(lambda: log.exists() and "Syncing nftables rules" in log.read_text(), deadline,
                   "the NetworkPolicy engine's nftables rules", POLICY_ENGINE)  # fmt: skip

    def policy_engine_tables(self) -> list[str]:
        """The engine's nftables table in the node's namespace, if it is there (needs `nft`; []
        without it, or without the namespace)."""
        if self.address is None or not shutil.which("nft") or self.address.netns not in netns.names():
            return []
        family, name = POLICY_ENGINE_TABLE
        out = netns.run(self.address.netns, ["nft", "list", "tables", family], check=False)
        return [f"nft table {family} {name}" for line in out.splitlines() if line.split()[-1:] == [name]]

    def _spawn_mount_holder(self, deadline: float) -> None:
        """A process holding the node's own mount namespace (inside its network namespace): the
        Pods' network namespace files (/run/netns) and the CNI's state (/var/lib/cni) live on
        tmpfs there, and every mount containerd and the kubelet make stays there. When the node's
        processes are gone, the kernel drops all of it: nothing is left on the host."""
        assert self.address is not None
        Path("/var/lib/cni").mkdir(parents=True, exist_ok=True)
        # The kubelet's device-plugin socket is a fixed path (not under --root-dir): two kubelets
        # starting at once each clean the shared folder, then one fails to bind ("address already
        # in use", seen once starting the multi-node cluster). Each node gets its own.
        DEVICE_PLUGINS.mkdir(parents=True, exist_ok=True)
        script = (
            "mount -t tmpfs -o mode=0755 streamops-netns /run/netns"
            " && mount -t tmpfs -o mode=0755 streamops-cni /var/lib/cni"
            f" && mount -t tmpfs -o mode=0755 streamops-device-plugins {DEVICE_PLUGINS}"
            " && echo ready && exec sleep infinity"
        )
        argv = netns.nsenter(self.address.netns, ["unshare", "--mount", "--propagation", "slave", "sh", "-c", script])
        self.procs.spawn("mounts", argv, cwd=self.root)
        log = self.logs / "mounts.log"
        self._wait(lambda: log.exists() and log.read_text().rstrip().endswith("ready"), deadline,
                   "the node's mount namespace", "mounts")  # fmt: skip

    def import_images(self, images: Sequence[Image]) -> None:
        """Images a test needs besides the node's own (its containerd keeps them until the node goes)."""
        self._import(images, set(self.ctr("images", "ls", "-q").split()))

    def _import(self, images: Sequence[Image], have: set[str]) -> None:
        for image in images:
            if image.tag in have:
                continue
            began = time.monotonic()
            self.ctr("images", "import", "--snapshotter", "overlayfs", str(image.archive), timeout=600)
            print(f"# imported {image.short} in {time.monotonic() - began:.1f}s", file=sys.stderr)

    def _import_images(self, prune: bool = True) -> None:
        have = set(self.ctr("images", "ls", "-q").split())
        self._import(self.images, have)
        for old in have - {i.tag for i in self.images} if prune else ():
            if old.startswith(tuple(f"docker.io/library/streamops-{n}:" for n in ("worker", "pause", "overlay"))):
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
        for top in self.cgroup_dirs():
            if not top.is_dir():
                continue
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()

    # -- processes ------------------------------------------------------------------------

    def _adopt(self) -> bool:
        wanted = (
            {"containerd", "kubelet", "mounts", "kube-proxy", POLICY_ENGINE}
            if self.address
            else {"containerd", "kubelet", "kube-scheduler"}
        )
        if self.procs.adopt(wanted):
            self._import_images(prune=False)  # a changed worker image reaches a running node
            self.procs.meta["worker_image"] = self.worker_image
            self.procs.write()
            return True
        return False

    def _spawn(self, name: str, argv: Sequence[str]) -> Proc:
        self.procs.meta["worker_image"] = self.worker_image
        if self.address is not None:
            holder = next(p for p in self.procs.procs if p.name == "mounts")
            # Into the holder's mount and network namespaces (its /run/netns hides the island's
            # names, so the network namespace is taken from the holder as well).
            argv = ["nsenter", f"--target={holder.pid}", "--mount", "--net", "--", *argv]
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
        return admin.kubectl("get", "node", self.name, "-o", jsonpath, check=False).stdout.strip() == "True"


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


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
                "error: the control plane in --dir is not running (python -m devtools.cluster.controlplane up)",
                file=sys.stderr,
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
