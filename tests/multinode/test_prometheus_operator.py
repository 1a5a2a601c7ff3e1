"""The monitoring fault test against the real Prometheus Operator (issue 38; devtools.cluster.prometheus_operator):
the chart upgraded with its ServiceMonitors, PodMonitor and PrometheusRule on, the operator (built from its
module, the version of the CRDs) reconciling them into a Prometheus it runs; then what
tests/multinode/test_prometheus_scrape.py checks against the translation: every worker and operator
replica an `up` target, the catalogue's series, the dashboards' metrics, an encoder stopped by PID firing
StreamopsStreamOffline and started again clearing it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.prometheus_operator import OperatorPrometheus
from devtools.cluster.release import Release
from devtools.media.peers import Publisher

from tests.multinode.test_prometheus_scrape import MONITORING, scrapes_and_alerts

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def operator_prometheus(cluster: LocalCluster, release: Release) -> Iterator[OperatorPrometheus]:
    """The operator's CRDs, the chart upgraded with MONITORING (its objects validated against them),
    the operator and a Prometheus selecting everything; afterwards the session's install and a
    cluster without any of it."""
    prom = OperatorPrometheus(cluster)
    try:
        began = time.monotonic()
        prom.install_crds()
        release.upgrade(MONITORING)
        upgraded = time.monotonic()
        prom.deploy()
        print(
            f"\nCRDs + helm upgrade with monitoring {upgraded - began:.1f}s, then the operator and its "
            f"Prometheus Ready {prom.deploy_seconds:.1f}s"
        )
        yield prom
    finally:
        prom.remove()
        release.upgrade()
        prom.remove_crds()


def test_the_operators_prometheus_scrapes_what_the_monitors_select_and_alerts_on_a_stopped_encoder(
    cluster: LocalCluster,
    release: Release,
    operator_prometheus: OperatorPrometheus,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    try:
        scrapes_and_alerts(cluster, release, operator_prometheus, namespace, publishers, tmp_path)
    finally:
        # What the operator generated, for whoever reads a failure.
        (tmp_path / "prometheus.yaml").write_text(operator_prometheus.generated_config())
