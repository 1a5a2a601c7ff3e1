"""Processes of the harness, by PID: /proc readings, process trees, stopping a tree or a group, and
the process registry (a pid file with each process's start time) that the control plane and the
node use to spawn, adopt, report and stop their components, also from another Python process."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

STOP_GRACE_SECONDS = 10.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------ /proc


def stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the `(comm)`, which may itself contain spaces and parentheses:
    [0] state, [1] ppid, [2] pgrp, [11] utime, [12] stime, [13] cutime, [14] cstime, [19] start time."""
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When pid started (clock ticks since boot): tells a process from a later one reusing its PID."""
    try:
        return int(stat_fields(pid)[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int, started: int | None = None) -> bool:
    """True while pid runs; a zombie counts as dead (PID 1 here may never reap orphans), and a
    recorded start time guards against a recycled pid being mistaken for ours."""
    try:
        fields = stat_fields(pid)
    except (OSError, ValueError, IndexError):
        return False
    if fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def proc_tree(pid: int) -> list[int]:
    """pid followed by all its live descendants (processes whose ppid chain leads to pid)."""
    return proc_trees([pid])


def proc_trees(roots: Iterable[int]) -> list[int]:
    """The roots followed by all their live descendants, from one scan of /proc (a scan per root
    costs 100 scans per sample with bench-media's 50 pushers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # it exited while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    tree, queue = list(roots), list(roots)
    while queue:
        for child in children.get(queue.pop(), []):
            tree.append(child)
            queue.append(child)
    return tree


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is pgid."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = stat_fields(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def proc_cpu_seconds(pid: int, include_children: bool = True) -> float:
    """User+system CPU seconds of pid (and its live descendants, plus what they reaped: a monotonic counter).

    Take deltas: `(cpu(t1) - cpu(t0)) / (t1 - t0)` is the share of one core over that window.
    """
    return cpu_seconds(proc_tree(pid) if include_children else [pid], include_reaped=include_children)


def cpu_seconds(pids: Iterable[int], include_reaped: bool = True) -> float:
    """User+system CPU seconds of these processes (plus what they reaped: monotonic while the
    set's processes only end by being reaped within it); those gone are skipped."""
    ticks = 0
    for p in pids:
        try:
            fields = stat_fields(p)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
        if include_reaped:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / _CLK_TCK


def pss_bytes(pids: Iterable[int]) -> int:
    """Proportional set size of processes (smaps_rollup): a page shared by n processes counts 1/n,
    so the sum over a tree (Chromium's processes, a worker's Python and its FFmpeg, many pushers)
    is what they cost the machine together, not once per process as RSS counts it."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def proc_rss_bytes(pid: int, include_children: bool = True) -> int:
    """Resident set size of pid (and its live descendants) in bytes; shared pages count once per process."""
    total = 0
    for p in proc_tree(pid) if include_children else [pid]:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
    return total


# --------------------------------------------------------------------------------- stopping


def kill_group(pgid: int, within: float = 2.0) -> None:
    """SIGKILL every process of the group until none is left: a dying nginx master can fork a
    new worker between our signals, which would outlive a single killpg."""
    deadline = time.monotonic() + within
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.01)
    if left:
        raise RuntimeError(f"process group {pgid} still has {left} after SIGKILL")


def kill_recorded(pids: dict[int, int | None], within: float = 5.0) -> None:
    """SIGKILL each pid still the process recorded (pid -> start time), and see them gone."""
    for pid, started in pids.items():
        if started is not None and alive(pid, started):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + within
    while any(started is not None and alive(pid, started) for pid, started in pids.items()):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)


def stop_tree(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0, group: bool = True
) -> int | None:
    """Signal a process we started (its whole group when `group`: it was started in a session of its
    own), wait up to `timeout`, then SIGKILL it; every descendant it had when this began (FFmpeg
    children in sessions of their own included) is killed by PID afterwards, so none outlives it."""
    if process.poll() is not None:
        return process.returncode
    tree = {pid: start_ticks(pid) for pid in proc_tree(process.pid)}  # before signalling: orphans move away
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        send(process.pid, sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            send(process.pid, signal.SIGKILL)
        return process.wait(timeout=5)
    finally:
        kill_recorded(tree)


def child_env() -> dict[str, str]:
    """The environment for long-lived components: no proxy variables (they could route loopback-
    adjacent traffic off the machine) and no ETCD_* (etcd treats each as a flag, e.g. our ETCD_BIN)."""
    drop = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
    return {k: v for k, v in os.environ.items() if k.lower() not in drop and not k.startswith("ETCD_")}


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --------------------------------------------------------------------------------- registry


@dataclass
class Proc:
    name: str
    pid: int
    start_ticks: int
    popen: subprocess.Popen[bytes] | None = None  # only when this Python process started it

    @property
    def alive(self) -> bool:
        return alive(self.pid, self.start_ticks)


def stop_procs(procs: Sequence[Proc], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each group, wait up to `grace`, then SIGKILL. Groups, because each component was
    started in its own session and anything it forked must go with it."""

    def signal_all(sig: signal.Signals) -> None:
        for p in procs:
            if p.alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, sig)

    def wait_all(deadline: float) -> bool:
        while True:
            for p in procs:
                if p.popen is not None:
                    p.popen.poll()  # reap our own children so they do not linger as zombies
            if not any(p.alive for p in procs):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    if not procs:
        return
    signal_all(signal.SIGTERM)
    if not wait_all(time.monotonic() + grace):
        signal_all(signal.SIGKILL)
        wait_all(time.monotonic() + 5)


def print_status(status: dict[str, bool], *details: str) -> int:
    """The CLIs' `status`: one line per component, then details; exit code 0 only when all run."""
    if not status:
        print("down")
        return 1
    for name, running in status.items():
        print(f"{name}: {'running' if running else 'dead'}")
    for line in details:
        print(line)
    return 0 if all(status.values()) else 1


class Lifecycle:
    """start() and stop() as a context manager: whatever `with` started is stopped on the way out."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Supervisor(Lifecycle):
    """What the control plane and the node share around their ProcessRegistry `procs`: a context
    manager (start/stop), is_up() from status(), detach()."""

    procs: ProcessRegistry

    def status(self) -> dict[str, bool]:
        return self.procs.status()

    def is_up(self) -> bool:
        st = self.status()
        return bool(st) and all(st.values())

    def detach(self) -> None:
        """Let the processes outlive this Python process (the CLIs' `up`); stop() still works."""
        self.procs.detach()


class StartError(RuntimeError):
    """A component died or did not become ready while starting (the message carries its log tail)."""

    def __init__(self, message: str, name: str = "", tail: str = "", exited: bool = False) -> None:
        super().__init__(message)
        self.name, self.tail, self.exited = name, tail, exited


# The cluster's Go servers (kube-apiserver, etcd, the controller-manager and scheduler, kubelets,
# containerd, kube-proxy, the LAN registry) collect garbage when their heap is 4 times what was live
# after the last collection, not twice: a CPU profile of the cluster tier's API server over 120 s of
# its tests (2026-11-30) had 15 % of its CPU in the collector's mark workers alone. The machine has
# memory to spare and no CPU; GOMEMLIMIT makes a process that nears 2 GiB collect as often as it must.
CLUSTER_GO_ENV = {"GOGC": "400", "GOMEMLIMIT": "2GiB"}


class ProcessRegistry:
    """Named components recorded in a pid file (pid + start time, plus a few `meta` strings), each
    started in a session of its own with its output in `logs`/<name>.log.

    A registry read from the same pid file in another Python process (the CLI's `down`) finds and
    stops the same processes; a recycled pid is never mistaken for one of them. Until detach(), an
    atexit hook (`on_exit`, typically the owner's stop) cleans up after a run that dies mid-way.
    """

    def __init__(self, pid_file: Path, logs: Path, on_exit: Callable[[], Any]) -> None:
        self.pid_file, self.logs, self.on_exit = pid_file, logs, on_exit
        self.procs: list[Proc] = []
        self.meta: dict[str, str] = {}
        self._atexit = False

    def recorded(self) -> list[Proc]:
        """The processes in memory, else those the pid file records (its meta read along)."""
        return list(self.procs) or self.read()

    def read(self) -> list[Proc]:
        try:
            data = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        self.meta.update({k: v for k, v in data.items() if k != "procs" and isinstance(v, str)})
        return [Proc(p["name"], int(p["pid"]), int(p["start_ticks"])) for p in data.get("procs", [])]

    def write(self) -> None:
        data: dict[str, Any] = {
            **self.meta,
            "procs": [{"name": p.name, "pid": p.pid, "start_ticks": p.start_ticks} for p in self.procs],
        }
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.pid_file)

    def adopt(self, wanted: Iterable[str]) -> bool:
        """Take over what the pid file records when it has every `wanted` component, all alive."""
        procs = self.read()
        if procs and {p.name for p in procs} >= set(wanted) and all(p.alive for p in procs):
            self.procs = procs
            return True
        return False

    def status(self) -> dict[str, bool]:
        """Component name -> running, for whatever the pid file records."""
        return {p.name: p.alive for p in self.read()}

    def is_up(self) -> bool:
        st = self.status()
        return bool(st) and all(st.values())

    def spawn(self, name: str, argv: Sequence[str], cwd: Path) -> Proc:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            # New session: survives the CLI exiting and the terminal's ^C, and is killed as a group.
            popen = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env={**child_env(), **CLUSTER_GO_ENV}, cwd=cwd,
            )  # fmt: skip
        proc = Proc(name, popen.pid, start_ticks(popen.pid) or 0, popen)
        self.procs.append(proc)
        self.write()  # written at once so `down` can find a half-started set
        if not self._atexit:
            atexit.register(self.on_exit)  # a test run that dies mid-way still cleans up
            self._atexit = True
        return proc

    def check_alive(self) -> None:
        for p in self.procs:
            if not p.alive:
                log = self.logs / f"{p.name}.log"
                tail = log_tail(log)
                raise StartError(f"{p.name} exited during startup; last lines of {log}:\n{tail}", p.name, tail, True)

    def wait(self, probe: Callable[[], bool], deadline: float, what: str, blame: str) -> None:
        """Until probe() holds; StartError when a component dies or the deadline passes."""
        while True:
            self.check_alive()
            if probe():
                return
            if time.monotonic() >= deadline:
                log = self.logs / f"{blame}.log"
                tail = log_tail(log)
                raise StartError(f"timed out waiting for {what}; last lines of {log}:\n{tail}", blame, tail)
            time.sleep(0.25)

    def forget(self) -> None:
        """After a stop: nothing recorded any more, no atexit hook."""
        self.procs = []
        self.pid_file.unlink(missing_ok=True)
        self.detach()

    def detach(self) -> None:
        """Let the processes outlive this Python process (the CLIs' `up`); stopping still works."""
        if self._atexit:
            atexit.unregister(self.on_exit)
            self._atexit = False


def command_line(pid: int) -> str:
    """/proc/<pid>/cmdline (any process on the host reads it), arguments joined by spaces; "" once gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def environment(pid: int) -> str:
    """/proc/<pid>/environ (its user and root read it), one VAR=value per line; "" once gone."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode(errors="replace")
    except OSError:
        return ""
