"""The multi-node tier: the session's pod-network cluster (the `local_cluster` fixture of tests/conftest.py:
2 nodes, kube-proxy, CoreDNS, streamops installed with the chart), in network namespaces of its own;
clients "outside the cluster" (an encoder, a viewer, a restream target) sit on the cluster's LAN
namespace. Nothing here skips: a machine that cannot run the cluster fails the tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from devtools.cluster.cert_manager import CertManager
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.metrics_server import MetricsServer
from devtools.cluster.network import OUTSIDE_IP
from devtools.media.s3_server import S3Server

# The S3 server listens on the host's loopback (where the download command's link points: the
# storage's publicEndpoint) and, through a relay in the LAN namespace, at https://10.241.0.1:9443
# for the Pods (the storage's endpoint): one server, one bucket, two addresses, one private CA.
BUCKET = "videos"
LAN_PORT = 9443


@pytest.fixture(scope="session")
def cluster(local_cluster: LocalCluster) -> LocalCluster:
    return local_cluster


@pytest.fixture(scope="session")
def metrics_server(cluster: LocalCluster) -> MetricsServer:
    """metrics-server (devtools.cluster.metrics_server), started at its first use in the session: the
    resource metrics API the edge's HorizontalPodAutoscaler reads. Started, not waited for: a test calls
    wait_ready() when it needs metrics, so that its own setup overlaps metrics-server's (≈20 s). It
    stays until the cluster goes."""
    server = MetricsServer(cluster)
    server.start()
    return server


@pytest.fixture(scope="session")
def cert_manager(cluster: LocalCluster) -> CertManager:
    """cert-manager (devtools.cluster.cert_manager) with its ClusterIssuers, installed at its first use in
    the session; it stays until the cluster goes."""
    cm = CertManager(cluster)
    cm.install()
    print(f"\ncert-manager installed, webhook answering, ClusterIssuers Ready: {cm.install_seconds:.1f}s")
    return cm


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    name = f"mn-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def s3(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3"))
    with server:
        server.create_bucket(BUCKET)
        with server.lan_relay(cluster.network.outside, OUTSIDE_IP, LAN_PORT):
            yield server


@pytest.fixture
def s3_storage(cluster: LocalCluster, namespace: str, s3: S3Server) -> dict[str, dict[str, str]]:
    """A Recording's storage in the module's S3 server, its Secrets ("s3": the keys, "s3-ca": the
    CA) applied in the test's namespace."""
    cluster.apply(namespace, s3.credentials_secret("s3", namespace), s3.ca_secret("s3-ca", namespace))
    return {
        "s3": {
            "endpoint": f"https://{OUTSIDE_IP}:{LAN_PORT}",
            "publicEndpoint": s3.endpoint,
            "bucket": BUCKET,
            "credentialsSecret": "s3",
            "caSecret": "s3-ca",
        }
    }
