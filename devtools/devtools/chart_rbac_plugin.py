"""pytest plugin: run the cluster suite with the operator under the Helm chart's own
ServiceAccount, ClusterRole, ClusterRoleBinding and leader election Role (as `helm template` renders
them) instead of the ones devtools.cluster.suite.operator_kubeconfig() builds from
streamops.control.runtime.rbac:

    .venv/bin/python -m pytest -p devtools.chart_rbac_plugin tests/cluster   # make test-cluster-chart-rbac

Every cluster test passing this way shows the chart's RBAC is enough for everything the suite
does (tests/cluster/test_chart_install.py shows it is not more than what is used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.chart import objects, render
from devtools.cluster import suite as cluster_harness

USED: list[str] = []  # the ClusterRoles the operator was given, for the summary line


def chart_operator_kubeconfig(cluster: Any, path: Path) -> Path:
    namespace = "streamops-system"
    # (the Role and RoleBinding: the leader election Lease's, in the release namespace)
    rendered = [
        o
        for o in objects(render(namespace=namespace))
        if o["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    ]
    (account,) = [o for o in rendered if o["kind"] == "ServiceAccount"]
    (role,) = [o for o in rendered if o["kind"] == "ClusterRole"]
    USED.append(
        f"{role['metadata']['name']} ({role['metadata']['labels']['helm.sh/chart']}, {len(role['rules'])} rules)"
    )
    return cluster.plane.service_account_kubeconfig(path, namespace, account["metadata"]["name"], rendered)


def pytest_configure(config: pytest.Config) -> None:
    cluster_harness.operator_kubeconfig = chart_operator_kubeconfig  # type: ignore[assignment]


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    uses = [i for i in session.items if "operator" in getattr(i, "fixturenames", ())]
    if session.items and not uses:
        raise pytest.UsageError("chart_rbac_plugin: no collected test runs the cluster suite's `operator` fixture")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if USED:
        terminalreporter.write_line(f"chart_rbac_plugin: the operator ran under the chart's ClusterRole {USED[-1]}")
    else:
        terminalreporter.write_line("chart_rbac_plugin: no operator was started")
