"""Loopback namespaces a killed run left behind are removed at the next one's first; a living run's
are not (devtools.netns.reclaim_orphans)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from devtools.waits import eventually

from devtools import netns


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: no process has this PID until the kernel wraps around


@pytest.fixture
def made() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        netns.delete(name)


def test_a_dead_runs_loopback_namespace_is_reclaimed(dead_pid: int, made: list[str]) -> None:
    orphan, ours = f"sotest{dead_pid}-1", f"sotest{os.getpid()}-1"
    made += [orphan, ours]
    netns.create(orphan)
    netns.create(ours)
    with netns.loopback_namespace(f"sotest{os.getpid()}-2"):
        assert not netns.exists(orphan)
        assert netns.exists(ours)


def test_a_namespace_with_a_process_inside_is_kept(dead_pid: int, made: list[str]) -> None:
    name = f"sotest{dead_pid}-1"
    made.append(name)
    netns.create(name)
    sleeper = subprocess.Popen(netns.nsenter(name, ["sleep", "30"]))
    try:
        # nsenter enters the namespace a moment after Popen returns (seen: none there yet under load).
        eventually(lambda: netns.pids(name) == [sleeper.pid], timeout=10, interval=0.05, what="sleep in the namespace")
        assert netns.reclaim_orphans() == []
        assert netns.exists(name)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert netns.reclaim_orphans() == [name]
