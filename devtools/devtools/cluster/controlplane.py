#!/usr/bin/env python3
"""A real, local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager).

    python -m devtools.cluster.controlplane up     --dir DIR [--timeout S] [--no-controller-manager]
    python -m devtools.cluster.controlplane status --dir DIR
    python -m devtools.cluster.controlplane down   --dir DIR

    with ControlPlane(tmp_path / "cp") as cp: ...  # cp.kubeconfig, cp.server

Every listener binds 127.0.0.1 on a port chosen at start (a hand one and a test run coexist);
certificates in DIR/pki are reused; etcd data is wiped on every fresh start and on stop, so each
`up` begins from an empty cluster. With a ClusterNetwork it runs in the island's control namespace
(docs/design/local-cluster.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

from devtools import netns
from devtools.address_plan import API_IP, API_PORT
from devtools.address_plan import SERVICE_CIDR as ISLAND_SERVICE_CIDR
from devtools.cluster.kubectl import Kubectl
from devtools.cluster.network import ClusterNetwork
from devtools.http_client import http_ok
from devtools.pki import (
    CLIENT,
    FRONT_PROXY_CA,
    FRONT_PROXY_CLIENT,
    PkiError,
    ensure_leaves,
    ensure_pki,
    write_kubeconfig,
)
from devtools.ports import LOOPBACK, free_port
from devtools.processes import Proc, ProcessRegistry, StartError, Supervisor, print_status, stop_procs
from devtools.versions import kube_bin_dir

SERVICE_CIDR = "10.96.0.0/16"  # only allocated from, never routed: nothing here sends to it
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Started in this order, stopped in reverse: etcd must outlive the apiserver's shutdown.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")


MEMORY_FS = Path("/dev/shm")


def etcd_data_dir(dir: Path) -> Path:
    """Where etcd keeps its data for the control plane in `dir`: in memory (/dev/shm, a tmpfs) when
    there is one, else `dir`/etcd. etcd syncs its log to disk at every write; on this machine's
    virtual disk, busy with the media tests' segments, each sync waited behind theirs and every API
    write with it. A test cluster starts from an empty etcd and loses nothing by keeping it in RAM.
    Named after `dir`, so `down` from another process finds it; removed by stop()."""
    if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK):
        digest = hashlib.sha256(str(dir).encode()).hexdigest()[:12]
        return MEMORY_FS / f"streamops-etcd-{digest}"
    return dir / "etcd"


class ControlPlaneError(RuntimeError):
    """Raised when the control plane cannot be started (the message carries the log tail)."""


def _find_etcd() -> Path:
    if env := os.environ.get("ETCD_BIN"):
        return Path(env)
    found = shutil.which("etcd")
    if not found:
        raise ControlPlaneError("etcd not found: install it (apt-get install etcd-server) or set ETCD_BIN")
    return Path(found)


def _require_executable(path: Path, hint: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ControlPlaneError(f"{path} is missing or not executable: {hint}")
    return path


# ---------------------------------------------------------------------------- control plane

# Node loss on the pod-network cluster (docs/design/local-cluster.md, "Node loss"): its kubelets
# renew their node Lease every NODE_LEASE_SECONDS / 4 (2 s; Kubernetes' default 40 s: every 10 s)
# and post their status every 5 s; the node lifecycle controller looks every
# NODE_MONITOR_PERIOD_SECONDS (default 5 s) and calls a node that said nothing for
# NODE_MONITOR_GRACE_SECONDS (default 50 s) NotReady. 16 s of silence are 8 missed renewals: a
# kubelet may stall 14 s before its healthy node is called lost (15 s with the 20 s grace before): a
# 2-core machine under the whole suite's load must not have its nodes called lost (12 s saved 4 s
# per node-loss test but left 10 s).
NODE_LEASE_SECONDS = 8
NODE_MONITOR_PERIOD_SECONDS = 1
NODE_MONITOR_GRACE_SECONDS = 16
# HorizontalPodAutoscalers (the edge's): synced every HPA_SYNC_SECONDS (default 15 s); a scale-in takes
# the highest recommendation of the last HPA_DOWNSCALE_STABILIZATION_SECONDS (default 5 min): here about
# one sync's, so the edge scales in at the first or second reading after its CPU fell. 15 s (three
# syncs) cost the autoscaling test ≈ 5 s a scale-in and proved nothing more (docs/design/test-harness.md).
HPA_SYNC_SECONDS = 5
HPA_DOWNSCALE_STABILIZATION_SECONDS = 5


class ControlPlane(Supervisor):
    """etcd + kube-apiserver (+ kube-controller-manager) rooted in `dir`.

    `start()` returns once /readyz is ok and, with a controller-manager, once the `default`
    ServiceAccount exists. On any failure it stops what it started and raises ControlPlaneError.
    """

    def __init__(
        self,
        dir: Path,
        bin_dir: Path | None = None,
        *,
        etcd_bin: Path | None = None,
        controller_manager: bool = True,
        network: ClusterNetwork | None = None,
        node_monitor_grace_seconds: int = NODE_MONITOR_GRACE_SECONDS,
    ) -> None:
        """`node_monitor_grace_seconds`: with a network, how long a silent node counts as Ready (the
        kube-controller-manager's --node-monitor-grace-period; its nodes renew their Lease every 2 s)."""
        self.dir = Path(dir).resolve()
        self.node_monitor_grace_seconds = node_monitor_grace_seconds
        self.bin_dir = Path(bin_dir) if bin_dir is not None else kube_bin_dir()
        self.etcd_bin = etcd_bin
        self.controller_manager = controller_manager
        # With a network (devtools.cluster.network) the control plane runs inside the island's control
        # namespace at 10.241.0.2, with the scheduler, and the host reaches it through a portal.
        self.network = network
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.kubeconfig = self.dir / "kubeconfig"
        self.cm_kubeconfig = self.dir / "controller-manager.kubeconfig"
        self.pid_file = self.dir / "pids.json"
        self.etcd_data = etcd_data_dir(self.dir)
        self.server = ""
        self.procs = ProcessRegistry(self.pid_file, self.logs, self.stop)

    # -- public ---------------------------------------------------------------------------

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    def service_account_kubeconfig(
        self,
        path: Path,
        namespace: str,
        account: str,
        objects: Sequence[dict[str, Any]] = (),
        duration: str = "24h",
    ) -> Path:
        """Apply `objects` (typically the ServiceAccount `account` and its RBAC) as admin, then write
        a kubeconfig at `path` for this server that authenticates with a token of `account`."""

        admin = Kubectl(self.kubectl, self.kubeconfig, timeout=60)

        def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
            return admin.kubectl(*args, input=input, check=check).stdout

        kubectl("create", "namespace", namespace, check=False)
        if objects:
            kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))
        token = kubectl("create", "token", account, "-n", namespace, f"--duration={duration}").strip()
        config = json.loads(kubectl("config", "view", "--raw", "--minify", "-o", "json"))
        config["users"] = [{"name": account, "user": {"token": token}}]
        for context in config["contexts"]:
            context["context"]["user"] = account
        path.write_text(json.dumps(config, indent=2))  # (JSON is YAML: every kubeconfig reader takes it)
        path.chmod(0o600)
        return path

    def start(self, timeout: float = 180.0) -> Self:
        """Start (or adopt an already running) control plane; idempotent."""
        if self._adopt():
            return self
        self.stop()  # a partial leftover (some pids dead) is cleared before starting afresh
        binaries = self._binaries()
        try:
            if self.network is None:
                ensure_pki(self.pki, SERVICE_CIDR)
            else:
                ensure_pki(self.pki, self.service_cidr, (API_IP,))
        except PkiError as e:
            raise ControlPlaneError(str(e)) from None
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            try:
                self._start_once(binaries, deadline)
                return self
            except _PortTaken:
                self._stop_started()
                if attempt == 2:
                    raise ControlPlaneError("ports kept being taken by other processes") from None
            except BaseException:
                self._stop_started()  # never leak processes, whatever went wrong (^C included)
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop every process this control plane recorded, then drop the pid file and etcd data."""
        procs = self.procs.recorded()
        # Everything but etcd first, so the apiserver can finish its shutdown against a live etcd.
        stop_procs([p for p in procs if p.name != "etcd"])
        stop_procs([p for p in procs if p.name == "etcd"])
        self.procs.forget()
        shutil.rmtree(self.etcd_data, ignore_errors=True)

    def status(self) -> dict[str, bool]:
        """Component name -> running, for whatever pids.json records (and the server's address)."""
        st = self.procs.status()
        self.server = self.procs.meta.get("server", self.server)
        return st

    # -- internals ------------------------------------------------------------------------

    def _binaries(self) -> dict[str, Path]:
        hint = f"run hack/build-kube.sh (expected in {self.bin_dir}; KUBE_BIN_DIR overrides)"
        bins = {
            "etcd": _require_executable(self.etcd_bin or _find_etcd(), "install etcd or set ETCD_BIN"),
            "kube-apiserver": _require_executable(self.bin_dir / "kube-apiserver", hint),
        }
        if self.controller_manager:
            bins["kube-controller-manager"] = _require_executable(self.bin_dir / "kube-controller-manager", hint)
        if self.network is not None:
            bins["kube-scheduler"] = _require_executable(self.bin_dir / "kube-scheduler", hint)
        return bins

    def _adopt(self) -> bool:
        """Reuse a control plane already running from this dir (e.g. started by the CLI)."""
        wanted = {"etcd", "kube-apiserver"}
        if self.controller_manager:
            wanted.add("kube-controller-manager")
        if self.network is not None:
            wanted |= {"kube-scheduler", "portal"}
        if self.procs.adopt(wanted):
            self.server = self.procs.meta.get("server", self.server)
            return True
        return False

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        """Start one component (a hook: a subclass may add flags, e.g. an audit log)."""
        self.procs.meta["server"] = self.server
        if self.network is not None and name != "portal":
            argv = netns.nsenter(self.network.control, argv)
        return self.procs.spawn(name, argv, cwd=self.dir)

    @property
    def service_cidr(self) -> str:
        return str(ISLAND_SERVICE_CIDR) if self.network is not None else SERVICE_CIDR

    @property
    def island_server(self) -> str:
        """The API server as the island sees it (kubelets, kube-proxy, Pods through `kubernetes`)."""
        return f"https://{API_IP}:{API_PORT}"

    def _stop_started(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def _start_once(self, bins: dict[str, Path], deadline: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.etcd_data, ignore_errors=True)  # every start begins from an empty cluster
        island = self.network is not None
        # In the island's control namespace nothing else listens: the standard ports. The host
        # reaches the API server through a portal on a free loopback port.
        etcd_client, etcd_peer = (2379, 2380) if island else (free_port(), free_port())
        api_port = API_PORT if island else free_port()
        portal_port = free_port()
        self.server = f"https://{LOOPBACK}:{portal_port if island else api_port}"
        inner_server = f"https://{LOOPBACK}:{api_port}"  # as the control plane's own components see it
        write_kubeconfig(self.kubeconfig, self.server, self.pki, "streamops-admin", "admin")
        write_kubeconfig(
            self.cm_kubeconfig, inner_server, self.pki, "system:kube-controller-manager", "controller-manager"
        )
        etcd_url = f"http://{LOOPBACK}:{etcd_client}"
        peer_url = f"http://{LOOPBACK}:{etcd_peer}"
        self._spawn("etcd", [
            str(bins["etcd"]), "--name=streamops", f"--data-dir={self.etcd_data}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=streamops={peer_url}", "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr",
        ])  # fmt: skip
        self._wait(lambda: self._http_ok_inside(f"{etcd_url}/health"), deadline, "etcd /health", "etcd")
        if island:
            assert self.network is not None
            self._spawn("portal", [
                sys.executable, "-m", "devtools.cluster.portal",
                f"{LOOPBACK}:{portal_port}={self.network.control}/{API_IP}:{API_PORT}",
            ])  # fmt: skip

        pki = self.pki
        admission = (
            ["--enable-admission-plugins=NodeRestriction"]
            if self.controller_manager
            # Without a controller-manager nothing creates the `default` ServiceAccount, and the
            # ServiceAccount admission plugin would then refuse every pod.
            else ["--enable-admission-plugins=NodeRestriction", "--disable-admission-plugins=ServiceAccount"]
        )
        if island:
            # The `kubernetes` Service's endpoint is 10.241.0.2:6443, which Pods reach through kube-proxy.
            # The API server reaches Pods (APIServices, admission webhooks) at their own addresses: no
            # kube-proxy runs where it does, so a Service's cluster IP means nothing there; the island
            # routes the Pod ranges to the control plane (devtools.cluster.network).
            addressing = [
                "--bind-address=0.0.0.0", f"--advertise-address={API_IP}", f"--secure-port={api_port}",
                "--kubelet-preferred-address-types=InternalIP", "--enable-aggregator-routing=true",
            ]  # fmt: skip
        else:
            addressing = [
                f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}", f"--secure-port={api_port}",
                "--kubelet-preferred-address-types=Hostname",
                # The `kubernetes` Endpoints would point at 127.0.0.1, which Endpoints validation
                # rejects (loopback): without this the apiserver logs an error every 10 s.
                "--endpoint-reconciler-type=none",
            ]  # fmt: skip
        self._spawn("kube-apiserver", [
            str(bins["kube-apiserver"]),
            f"--etcd-servers={etcd_url}",
            *addressing,
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--allow-privileged=true",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            *self._aggregation_flags(),
            *admission,
            # API Priority and Fairness queues requests per flow against overload from many tenants;
            # a test cluster has one client of each kind, and its bookkeeping is work on every
            # request (docs/design/test-harness.md, "The control planes' CPU"). The plain in-flight
            # limits remain.
            "--enable-priority-and-fairness=false",
        ])  # fmt: skip
        ctx = self._ssl_context()
        self._wait(lambda: http_ok(f"{self.server}/readyz", ctx), deadline, "kube-apiserver /readyz",
                   "kube-apiserver")  # fmt: skip

        if self.controller_manager:
            self._spawn("kube-controller-manager", [
                str(bins["kube-controller-manager"]),
                f"--kubeconfig={self.cm_kubeconfig}",
                # No serving endpoint at all: nothing to bind, nothing to collide with.
                f"--bind-address={LOOPBACK}", "--secure-port=0",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={self.service_cidr}",
                *self._node_lifecycle_flags(),
                f"--controllers={','.join(['*', *(f'-{c}' for c in self.idle_controllers)])}",
                # The PV binder retries a claim it could not bind at once only on this period
                # (default 15 s): a pre-bound PV + PVC pair otherwise waits up to 15-30 s.
                "--pvclaimbinder-sync-period=1s",
            ])  # fmt: skip
            if island:
                self._spawn("kube-scheduler", [
                    str(bins["kube-scheduler"]), f"--kubeconfig={self._scheduler_kubeconfig(inner_server)}",
                    "--leader-elect=false", f"--bind-address={LOOPBACK}", "--secure-port=0",
                ])  # fmt: skip
            sa = f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"
            self._wait(lambda: http_ok(sa, ctx), deadline, "the default ServiceAccount",
                       "kube-controller-manager")  # fmt: skip

    def _aggregation_flags(self) -> list[str]:
        """The aggregation layer, as kubeadm configures it: extension API servers (metrics-server's
        metrics.k8s.io) get requests proxied with the front proxy's client certificate and the user in
        X-Remote-* headers, which they believe from that certificate only (devtools.pki.ensure_front_proxy)."""
        pki = self.pki
        return [
            f"--requestheader-client-ca-file={pki / f'{FRONT_PROXY_CA}.crt'}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / f'{FRONT_PROXY_CLIENT}.crt'}",
            f"--proxy-client-key-file={pki / f'{FRONT_PROXY_CLIENT}.key'}",
        ]

    @property
    def idle_controllers(self) -> tuple[str, ...]:
        """Controllers of kube-controller-manager left off: what they write no test or component
        here reads, and they wrote it on every Service change (docs/design/test-harness.md, "The
        control planes' CPU"). The ServiceCIDR controller keeps ServiceCIDRs' Ready condition
        (which the API server sets itself on its default one, the only one here) and a finalizer
        that holds one in use: nothing here deletes one, and it patched that status once per
        ClusterIP allocated or freed. Without the pod network the workers are hostNetwork
        Pods at 127.0.0.1, which an Endpoints object may not hold: the Endpoints controller was
        refused (422) and retried each such Service, with a Warning Event each time; the operator,
        kube-proxy and the tests read EndpointSlices (their controller stays). With the network the
        Endpoints are valid, and a scraper may read them: that controller stays."""
        idle = ("service-cidr-controller",)
        return idle if self.network is not None else (*idle, "endpoints-controller")

    def _node_lifecycle_flags(self) -> list[str]:
        """Node loss on the pod-network cluster: Kubernetes' default grace before a silent node is
        NotReady is 50 s, looked at every 5 s; here NODE_MONITOR_GRACE_SECONDS, every second (the
        nodes renew their Lease every 2 s): the node-loss tests wait less.
        HorizontalPodAutoscalers (the edge's, fed by metrics-server): synced every HPA_SYNC_SECONDS
        instead of 15 s, and a scale-in waits HPA_DOWNSCALE_STABILIZATION_SECONDS of lower
        recommendations instead of 5 min, so that the autoscaling test sees the edge scale out and
        back in within a minute; the algorithm is Kubernetes' own."""
        if self.network is None:
            return []
        return [
            f"--node-monitor-period={NODE_MONITOR_PERIOD_SECONDS}s",
            f"--node-monitor-grace-period={self.node_monitor_grace_seconds}s",
            f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_SECONDS}s",
            f"--horizontal-pod-autoscaler-downscale-stabilization={HPA_DOWNSCALE_STABILIZATION_SECONDS}s",
        ]

    def _scheduler_kubeconfig(self, server: str) -> Path:
        try:
            ensure_leaves(self.pki, {"scheduler": ("/CN=system:kube-scheduler", CLIENT)})
        except PkiError as e:
            raise ControlPlaneError(str(e)) from None
        path = self.dir / "scheduler.kubeconfig"
        write_kubeconfig(path, server, self.pki, "system:kube-scheduler", "scheduler")
        return path

    def _http_ok_inside(self, url: str) -> bool:
        """GET `url` from where the control plane runs (inside the island's namespace, if any)."""
        if self.network is None:
            return http_ok(url)
        try:
            netns.run(self.network.control, ["curl", "-fsS", "-m", "2", "-o", "/dev/null", url], timeout=5)
        except (netns.NetnsError, subprocess.TimeoutExpired):
            return False
        return True

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _wait(self, probe: Callable[[], bool], deadline: float, what: str, blame: str) -> None:
        try:
            self.procs.wait(probe, deadline, what, blame)
        except StartError as e:
            if e.exited and "address already in use" in e.tail:
                raise _PortTaken(e.name) from None
            raise ControlPlaneError(str(e)) from None


class _PortTaken(Exception):
    """Another process grabbed a port between free_port() and the component binding it."""


# -------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, required=True, help="state directory (certs, logs, pids)")
        p.add_argument("--bin-dir", type=Path, default=None, help="kube binaries (default: as hack/versions.sh)")
        if name == "up":
            p.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
            p.add_argument(
                "--no-controller-manager",
                action="store_true",
                help="run without kube-controller-manager (no GC, no default ServiceAccount)",
            )
    args = parser.parse_args(argv)
    cp = ControlPlane(args.dir, args.bin_dir, controller_manager=not getattr(args, "no_controller_manager", False))

    if args.cmd == "up":
        was_up = cp.is_up()
        began = time.monotonic()
        try:
            cp.start(timeout=args.timeout)
        except ControlPlaneError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if not was_up:
            print(f"# control plane ready in {time.monotonic() - began:.1f}s at {cp.server}", file=sys.stderr)
        cp.detach()  # the processes must outlive this CLI
        print(f"export KUBECONFIG={cp.kubeconfig}")
        return 0
    if args.cmd == "down":
        began = time.monotonic()
        cp.stop()
        print(f"# control plane stopped in {time.monotonic() - began:.1f}s", file=sys.stderr)
        return 0
    st = cp.status()
    return print_status(st, f"server: {cp.server}", f"kubeconfig: {cp.kubeconfig}")


if __name__ == "__main__":
    sys.exit(main())
