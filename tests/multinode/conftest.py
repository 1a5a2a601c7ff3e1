"""The multi-node tier: the session's pod-network cluster (the `local_cluster` fixture of tests/conftest.py:
2 nodes, kube-proxy, CoreDNS, streamops installed with the chart), in network namespaces of its own;
clients "outside the cluster" (an encoder, a viewer, a restream target) sit on the cluster's LAN
namespace. Nothing here skips: a machine that cannot run the cluster fails the tests.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator

import pytest
from devtools.cluster.cert_manager import CertManager
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.metrics_server import MIN_RESOLUTION, MetricsServer
from devtools.cluster.network import OUTSIDE_IP
from devtools.media.s3_server import S3Server

# The S3 server listens on the host's loopback (where the download command's link points: the
# storage's publicEndpoint) and, through a relay in the LAN namespace, at https://10.241.0.1:9443
# for the Pods (the storage's endpoint): one server, one bucket, two addresses, one private CA.
BUCKET = "videos"
LAN_PORT = 9443


EARLY_METRICS_SERVER = pytest.StashKey[tuple[MetricsServer, "concurrent.futures.Future[None]"]]()
EARLY_CERT_MANAGER = pytest.StashKey[tuple[CertManager, "concurrent.futures.Future[None]"]]()


@pytest.fixture(scope="session")
def cluster(local_cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    """The session's cluster, with the add-ons the session's tests use started in the background at
    its first use, beside the tests before those that need them rather than on the host scope's path:
    metrics-server (its image imported, its objects applied: ≈20 s more until its metrics are served)
    and cert-manager (images, helm install, webhook, issuers: ≈20-30 s). Both stay until the cluster
    goes."""
    used = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    stash = request.config.stash
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the session's end waits for what runs
        if "metrics_server" in used:
            server = MetricsServer(local_cluster, resolution=MIN_RESOLUTION)
            stash[EARLY_METRICS_SERVER] = (server, pool.submit(server.start))
        if "cert_manager" in used:
            cm = CertManager(local_cluster)
            stash[EARLY_CERT_MANAGER] = (cm, pool.submit(cm.install))
        yield local_cluster


@pytest.fixture(scope="session")
def metrics_server(cluster: LocalCluster, pytestconfig: pytest.Config) -> MetricsServer:
    """metrics-server (devtools.cluster.metrics_server), started by `cluster`: the resource metrics API the
    edge's HorizontalPodAutoscaler reads. Started, not waited for: a test calls wait_ready() when it
    needs metrics. It scrapes every 10 s, its minimum: an HPA reads a new Pod and a load's end sooner
    than with upstream's 15 s."""
    if (early := pytestconfig.stash.get(EARLY_METRICS_SERVER, None)) is None:
        server = MetricsServer(cluster, resolution=MIN_RESOLUTION)
        server.start()
        return server
    server, starting = early
    starting.result()
    return server


@pytest.fixture(scope="session")
def cert_manager(cluster: LocalCluster, pytestconfig: pytest.Config) -> CertManager:
    """cert-manager (devtools.cluster.cert_manager) with its ClusterIssuers, installed by `cluster` in the
    background."""
    if (early := pytestconfig.stash.get(EARLY_CERT_MANAGER, None)) is None:
        cm = CertManager(cluster)
        cm.install()
    else:
        cm, installing = early
        began = time.monotonic()
        installing.result()
        print(f"\ncert-manager's install waited for: {time.monotonic() - began:.1f}s")
    print(f"\ncert-manager installed, webhook answering, ClusterIssuers Ready: {cm.install_seconds:.1f}s")
    return cm


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    # Through the API client (Kubectl.create/delete), not a kubectl process twice per test.
    name = f"mn-{uuid.uuid4().hex[:8]}"
    cluster.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        cluster.delete("namespaces", "", name, missing_ok=True)


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
