"""The multi-node tier: one pod-network cluster (devtools.local_cluster: 2 nodes, kube-proxy,
CoreDNS) per test session, in network namespaces of its own; clients "outside the cluster" (an
encoder, a viewer, a restream target) sit on the cluster's LAN namespace.

The session fails if the teardown leaves anything behind: processes, mounts, network namespaces,
interfaces, routes or firewall rules on the host, or cgroups. Nothing here skips: a machine that
cannot run the cluster fails the tests.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.local_cluster import LocalCluster

from devtools import netns


def host_network_state() -> dict[str, str]:
    """What the root namespace has: links, addresses, routes, firewall rules, named namespaces."""

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    return {
        "links": run("ip", "-o", "link", "show"),
        "addresses": run("ip", "-o", "addr", "show"),
        "routes": run("ip", "route", "show", "table", "all"),
        "iptables": run("iptables-save"),
        "namespaces": "\n".join(netns.names()),
    }


def mounts_mentioning(text: str) -> list[str]:
    """Mount points anywhere on the machine (any process's mount namespace) under `text`."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                for line in (proc / "mountinfo").read_text().splitlines():
                    if text in line.split()[4]:
                        found.add(line.split()[4])
            except OSError:
                continue
    return sorted(found)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    before = host_network_state()
    harness = LocalCluster(tmp_path_factory.mktemp("multinode"), nodes=2)
    harness.start()
    try:
        harness.install_crds()
        yield harness
    finally:
        left = harness.stop()
        after = host_network_state()
        changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        left += [f"mount {m}" for m in mounts_mentioning(str(harness.dir))]
        assert not left, f"left behind after teardown: {left}"
        assert not changed, f"the host's network changed: {json.dumps(changed, indent=1)}"


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"mn-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
