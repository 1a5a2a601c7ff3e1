"""Network namespaces by name (`ip netns`): create, delete, run a command in one, and enter one from
Python for the calling thread (a socket keeps the namespace it was created in, so a test can open a
connection "from outside the cluster" and keep using it afterwards).

Only `nsenter --net` is used to run processes in a namespace, never `ip netns exec`: the latter
also remounts /sys for the command, which hides /sys/fs/cgroup from a kubelet or containerd.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    pass


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def exists(name: str) -> bool:
    return netns_path(name).exists()


def names() -> list[str]:
    """Every named network namespace on the machine."""
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """`ip ARGS` in the root namespace, or in `netns` (`ip -n`)."""
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def create(name: str) -> None:
    if not exists(name):
        ip("netns", "add", name)


def delete(name: str) -> None:
    """Remove the namespace's name; the kernel frees it (and its interfaces, routes and firewall
    rules) once no process is left in it."""
    if exists(name):
        ip("netns", "delete", name, check=False)
    if exists(name):  # a stale file whose mount is already gone
        with contextlib.suppress(OSError):
            netns_path(name).unlink()


def pids(name: str) -> list[int]:
    """The processes living in namespace `name` (none once its last one has ended)."""
    return sorted(int(p) for p in ip("netns", "pids", name, check=False).split() if p.isdigit())


# A loopback namespace's name carries the PID of the run that made it ("sowebrtc1234-2").
_PID_NAMED = re.compile(r"^so[a-z]+(\d+)(-\d+)?$")


def reclaim_orphans() -> list[str]:
    """Delete the loopback namespaces of runs that were killed before they could: the PID in the
    name is gone and no process is left inside. Returns the names deleted."""
    gone = []
    for name in names():
        match = _PID_NAMED.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists() and not pids(name):
            delete(name)
            gone.append(name)
    return gone


def link_names(name: str) -> list[str]:
    """The interfaces of namespace `name`, sorted (a veth end without its `@peer` suffix)."""
    links = ip("-o", "link", "show", netns=name).splitlines()
    return sorted(line.split(":")[1].strip().split("@")[0] for line in links)


@contextlib.contextmanager
def loopback_namespace(name: str) -> Iterator[str]:
    """A new network namespace with `lo` up and no other interface (checked); deleted on exit, also
    when the block fails. Yields its name (for netns= of the peers and the browser); a caller may
    add interfaces of its own inside it (they go with it)."""
    reclaim_orphans()
    if exists(name):
        raise NetnsError(f"network namespace {name} exists already: not ours to reuse")
    create(name)
    try:
        ip("link", "set", "lo", "up", netns=name)
        if (found := link_names(name)) != ["lo"]:
            raise NetnsError(f"namespace {name} has more than lo: {found}")
        yield name
    finally:
        delete(name)


def nsenter(name: str, argv: Sequence[str]) -> list[str]:
    """`argv` run in the network namespace `name` (nsenter execs it: the PID stays the command's)."""
    return ["nsenter", f"--net={netns_path(name)}", "--", *argv]


def run(name: str, argv: Sequence[str], *, check: bool = True, timeout: float = 60) -> str:
    proc = subprocess.run(nsenter(name, argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} in {name}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the block with the calling thread in network namespace `name`: sockets made inside stay
    there. Threads started inside begin where the process's main namespace is, not here."""
    own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    target = os.open(netns_path(name), os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def inode(path: str | Path) -> int | None:
    """The namespace identity behind a /proc/PID/ns/net link or a /run/netns file."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
