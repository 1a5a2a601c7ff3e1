"""The multi-node tier: the session's pod-network cluster (the `local_cluster` fixture of tests/conftest.py:
2 nodes, kube-proxy, CoreDNS, streamops installed with the chart), in network namespaces of its own;
clients "outside the cluster" (an encoder, a viewer, a restream target) sit on the cluster's LAN
namespace. Nothing here skips: a machine that cannot run the cluster fails the tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from devtools.cluster.local_cluster import LocalCluster


@pytest.fixture(scope="session")
def cluster(local_cluster: LocalCluster) -> LocalCluster:
    return local_cluster


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"mn-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
