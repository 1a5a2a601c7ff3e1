#!/usr/bin/env python3
"""A real, local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager).

Used by the cluster test tier and by hand (`make cluster-up`). Stdlib only, so it runs before
any project dependency is installed.

    python3 hack/controlplane.py up     --dir DIR [--timeout S] [--no-controller-manager]
    python3 hack/controlplane.py status --dir DIR
    python3 hack/controlplane.py down   --dir DIR

    from controlplane import ControlPlane
    with ControlPlane(tmp_path / "cp") as cp:
        ...  # cp.kubeconfig, cp.server

Every listener binds 127.0.0.1 on a port chosen at start, so several control planes (a hand one
and a test run) can coexist on one machine. Certificates live in DIR/pki and are reused; etcd
data is wiped on every fresh start and on stop, so each `up` begins from an empty cluster.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

HACK_DIR = Path(__file__).resolve().parent
SERVICE_CIDR = "10.96.0.0/16"  # only allocated from, never routed: nothing here sends to it
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0
# Started in this order, stopped in reverse: etcd must outlive the apiserver's shutdown.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")


class ControlPlaneError(RuntimeError):
    """Raised when the control plane cannot be started (the message carries the log tail)."""


# --------------------------------------------------------------------------------- binaries


def kube_version() -> str:
    """The pinned version, read from hack/versions.sh so it is written down in one place."""
    if env := os.environ.get("KUBE_VERSION"):
        return env
    text = (HACK_DIR / "versions.sh").read_text()
    m = re.search(r'KUBE_VERSION="\$\{KUBE_VERSION:-([^}"]+)\}"', text)
    if not m:
        raise ControlPlaneError(f"cannot find the KUBE_VERSION default in {HACK_DIR / 'versions.sh'}")
    return m.group(1)


def default_bin_dir() -> Path:
    """Same rule as hack/versions.sh: $KUBE_BIN_DIR, else <cache>/kube-<version>/bin."""
    if env := os.environ.get("KUBE_BIN_DIR"):
        return Path(env)
    cache = os.environ.get("STREAMOPS_CACHE")
    if not cache:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache = str(Path(xdg) / "streamops")
    return Path(cache) / f"kube-{kube_version()}" / "bin"


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


# ------------------------------------------------------------------------------------- PKI


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _genkey(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
    path.chmod(0o600)


def _sign(pki: Path, name: str, subject: str, extensions: str) -> None:
    """Key + certificate `name` signed by the CA in `pki`, valid ten years (a throwaway cluster)."""
    key, csr, crt = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.crt"
    _genkey(key)
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=pki, delete=False) as ext:
        ext.write(extensions)
    try:
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", "3650", "-sha256",
            "-extfile", ext.name, "-out", str(crt),
        )  # fmt: skip
    finally:
        os.unlink(ext.name)
        csr.unlink(missing_ok=True)


def ensure_pki(pki: Path) -> None:
    """Create whatever is missing; a new CA invalidates every leaf, so those are redone too."""
    pki.mkdir(parents=True, exist_ok=True)
    if not (pki / "ca.crt").exists() or not (pki / "ca.key").exists():
        for old in pki.glob("*"):
            old.unlink()
        _genkey(pki / "ca.key")
        _openssl(
            "req", "-x509", "-new", "-key", str(pki / "ca.key"), "-subj", "/CN=streamops-local-ca",
            "-days", "3650", "-sha256",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
            "-out", str(pki / "ca.crt"),
        )  # fmt: skip
    service_ip = ipaddress.ip_network(SERVICE_CIDR)[1]
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    dns.append("kubernetes.default.svc.cluster.local")
    sans = ",".join([f"IP:{LOOPBACK}", f"IP:{service_ip}", *(f"DNS:{d}" for d in dns)])
    client = "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
    leaves = {
        "apiserver": (
            "/CN=kube-apiserver",
            f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
        ),
        "admin": ("/O=system:masters/CN=streamops-admin", client),
        "controller-manager": ("/CN=system:kube-controller-manager", client),
        # Lets the apiserver authenticate to a kubelet (logs/exec) if a later piece runs one.
        "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", client),
    }
    for name, (subject, ext) in leaves.items():
        if not (pki / f"{name}.crt").exists() or not (pki / f"{name}.key").exists():
            _sign(pki, name, subject, ext)
    if not (pki / "sa.key").exists() or not (pki / "sa.pub").exists():
        _genkey(pki / "sa.key")
        _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Path, user: str, cert: str) -> None:
    """Self-contained kubeconfig (certs embedded), so it can be copied or mounted anywhere."""
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: streamops-local
  cluster:
    server: {server}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: {user}
  user:
    client-certificate-data: {_b64(pki / f"{cert}.crt")}
    client-key-data: {_b64(pki / f"{cert}.key")}
contexts:
- name: streamops-local
  context:
    cluster: streamops-local
    user: {user}
current-context: streamops-local
"""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


# ------------------------------------------------------------------------------- processes


def free_port() -> int:
    """A port the kernel just handed out on loopback (a tiny race remains; start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a live pid, None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may contain spaces
    return fields[0], int(fields[19])


def _alive(pid: int, start_ticks: int | None = None) -> bool:
    """True while pid runs; a zombie counts as dead (PID 1 here may never reap orphans), and a
    recorded start time guards against a recycled pid being mistaken for ours."""
    stat = _proc_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return False
    return start_ticks is None or stat[1] == start_ticks


def _child_env() -> dict[str, str]:
    # Proxy variables could route loopback-adjacent traffic off the machine, and etcd treats every
    # ETCD_* variable (e.g. our own ETCD_BIN) as a flag, so neither reaches the children.
    drop = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
    return {k: v for k, v in os.environ.items() if k.lower() not in drop and not k.startswith("ETCD_")}


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class _Proc:
    name: str
    pid: int
    start_ticks: int
    popen: subprocess.Popen[bytes] | None = None  # only when this process started it


def _stop_procs(procs: Sequence[_Proc], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each group, wait up to `grace`, then SIGKILL. Groups, because each component was
    started in its own session and anything it forked must go with it."""

    def signal_all(ps: Sequence[_Proc], sig: signal.Signals) -> None:
        for p in ps:
            if _alive(p.pid, p.start_ticks):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, sig)

    def wait_all(ps: Sequence[_Proc], deadline: float) -> bool:
        while True:
            for p in ps:
                if p.popen is not None:
                    p.popen.poll()  # reap our own children so they do not linger as zombies
            if not any(_alive(p.pid, p.start_ticks) for p in ps):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    # Everything but etcd first, so the apiserver can finish its shutdown against a live etcd.
    for batch in ([p for p in procs if p.name != "etcd"], [p for p in procs if p.name == "etcd"]):
        if not batch:
            continue
        signal_all(batch, signal.SIGTERM)
        if not wait_all(batch, time.monotonic() + grace):
            signal_all(batch, signal.SIGKILL)
            wait_all(batch, time.monotonic() + 5)


# ---------------------------------------------------------------------------- control plane


class ControlPlane:
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
    ) -> None:
        self.dir = Path(dir).resolve()
        self.bin_dir = Path(bin_dir) if bin_dir is not None else default_bin_dir()
        self.etcd_bin = etcd_bin
        self.controller_manager = controller_manager
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.kubeconfig = self.dir / "kubeconfig"
        self.cm_kubeconfig = self.dir / "controller-manager.kubeconfig"
        self.pid_file = self.dir / "pids.json"
        self.etcd_data = self.dir / "etcd"
        self.server = ""
        self._procs: list[_Proc] = []
        self._atexit_registered = False

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

        def kubectl(*args: str, input: str | None = None, check: bool = True) -> str:
            result = subprocess.run(
                [str(self.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
                input=input, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            if check and result.returncode != 0:
                raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr}")
            return result.stdout

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

    def start(self, timeout: float = 180.0) -> ControlPlane:
        """Start (or adopt an already running) control plane; idempotent."""
        if self._adopt():
            return self
        self.stop()  # a partial leftover (some pids dead) is cleared before starting afresh
        binaries = self._binaries()
        ensure_pki(self.pki)
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
        procs = list(self._procs) or self._read_pids()
        _stop_procs(procs)
        self._procs = []
        self.pid_file.unlink(missing_ok=True)
        shutil.rmtree(self.etcd_data, ignore_errors=True)
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def detach(self) -> None:
        """Let the processes outlive this Python process (the CLI's `up`); `stop()` still works."""
        if self._atexit_registered:
            atexit.unregister(self.stop)
            self._atexit_registered = False

    def status(self) -> dict[str, bool]:
        """Component name -> running, for whatever pids.json records."""
        return {p.name: _alive(p.pid, p.start_ticks) for p in self._read_pids()}

    def is_up(self) -> bool:
        st = self.status()
        return bool(st) and all(st.values())

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    def _binaries(self) -> dict[str, Path]:
        hint = f"run hack/build-kube.sh (expected in {self.bin_dir}; KUBE_BIN_DIR overrides)"
        bins = {
            "etcd": _require_executable(self.etcd_bin or _find_etcd(), "install etcd or set ETCD_BIN"),
            "kube-apiserver": _require_executable(self.bin_dir / "kube-apiserver", hint),
        }
        if self.controller_manager:
            bins["kube-controller-manager"] = _require_executable(self.bin_dir / "kube-controller-manager", hint)
        return bins

    def _read_pids(self) -> list[_Proc]:
        try:
            data = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        self.server = data.get("server", self.server)
        return [_Proc(p["name"], int(p["pid"]), int(p["start_ticks"])) for p in data.get("procs", [])]

    def _write_pids(self) -> None:
        data = {
            "server": self.server,
            "procs": [{"name": p.name, "pid": p.pid, "start_ticks": p.start_ticks} for p in self._procs],
        }
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.pid_file)

    def _adopt(self) -> bool:
        """Reuse a control plane already running from this dir (e.g. started by the CLI)."""
        procs = self._read_pids()
        wanted = {"etcd", "kube-apiserver"}
        if self.controller_manager:
            wanted.add("kube-controller-manager")
        if procs and {p.name for p in procs} >= wanted and all(_alive(p.pid, p.start_ticks) for p in procs):
            self._procs = procs
            return True
        return False

    def _spawn(self, name: str, argv: list[str]) -> _Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            # New session: survives the CLI exiting and the terminal's ^C, and is killed as a group.
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=_child_env(), cwd=self.dir,
            )  # fmt: skip
        stat = _proc_stat(popen.pid)
        proc = _Proc(name, popen.pid, stat[1] if stat else 0, popen)
        self._procs.append(proc)
        self._write_pids()  # written at once so `down` can find a half-started plane
        if not self._atexit_registered:
            atexit.register(self.stop)  # a test run that dies mid-way still cleans up
            self._atexit_registered = True
        return proc

    def _stop_started(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def _check_alive(self) -> None:
        for p in self._procs:
            if not _alive(p.pid, p.start_ticks):
                log = self.logs / f"{p.name}.log"
                tail = _tail(log)
                if "address already in use" in tail:
                    raise _PortTaken(p.name)
                raise ControlPlaneError(f"{p.name} exited during startup; last lines of {log}:\n{tail}")

    def _timeout(self, what: str, blame: str) -> ControlPlaneError:
        log = self.logs / f"{blame}.log"
        return ControlPlaneError(f"timed out waiting for {what}; last lines of {log}:\n{_tail(log)}")

    def _start_once(self, bins: dict[str, Path], deadline: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.etcd_data, ignore_errors=True)  # every start begins from an empty cluster
        etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
        self.server = f"https://{LOOPBACK}:{api_port}"
        write_kubeconfig(self.kubeconfig, self.server, self.pki, "streamops-admin", "admin")
        write_kubeconfig(
            self.cm_kubeconfig, self.server, self.pki, "system:kube-controller-manager", "controller-manager"
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
        self._wait(lambda: _http_ok(f"{etcd_url}/health"), deadline, "etcd /health", "etcd")

        pki = self.pki
        admission = (
            ["--enable-admission-plugins=NodeRestriction"]
            if self.controller_manager
            # Without a controller-manager nothing creates the `default` ServiceAccount, and the
            # ServiceAccount admission plugin would then refuse every pod.
            else ["--enable-admission-plugins=NodeRestriction", "--disable-admission-plugins=ServiceAccount"]
        )
        self._spawn("kube-apiserver", [
            str(bins["kube-apiserver"]),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}", f"--secure-port={api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={SA_ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--kubelet-preferred-address-types=Hostname",
            # The `kubernetes` Endpoints would point at 127.0.0.1, which Endpoints validation rejects
            # (loopback): without this the apiserver logs an error every 10 s. The Service still exists.
            "--endpoint-reconciler-type=none",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            *admission,
        ])  # fmt: skip
        ctx = self._ssl_context()
        self._wait(lambda: _http_ok(f"{self.server}/readyz", ctx), deadline, "kube-apiserver /readyz",
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
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The PV binder retries a claim it could not bind at once only on this period
                # (default 15 s): a pre-bound PV + PVC pair otherwise waits up to 15-30 s.
                "--pvclaimbinder-sync-period=1s",
            ])  # fmt: skip
            sa = f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"
            self._wait(lambda: _http_ok(sa, ctx), deadline, "the default ServiceAccount",
                       "kube-controller-manager")  # fmt: skip

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _wait(self, probe: Callable[[], bool], deadline: float, what: str, blame: str) -> None:
        while True:
            self._check_alive()
            if probe():
                return
            if time.monotonic() >= deadline:
                raise self._timeout(what, blame)
            time.sleep(0.25)


class _PortTaken(Exception):
    """Another process grabbed a port between free_port() and the component binding it."""


# Direct connections only: proxy settings from the environment must never see this traffic.
_OPENER_PLAIN = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ctx is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ctx))
    opener = urllib.request.build_opener(*handlers) if ctx is not None else _OPENER_PLAIN
    try:
        with opener.open(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


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
    if not st:
        print("down")
        return 1
    for name, alive in st.items():
        print(f"{name}: {'running' if alive else 'dead'}")
    print(f"server: {cp.server}\nkubeconfig: {cp.kubeconfig}")
    return 0 if all(st.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
