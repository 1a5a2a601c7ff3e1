"""pytest plugin: run the cluster suite with the operator under the Helm chart's own
ServiceAccount, ClusterRole and ClusterRoleBinding (as `helm template` renders them) instead of
the ones tests/cluster/conftest.py builds from streamops.control.rbac:

    PYTHONPATH=tests .venv/bin/python -m pytest -p chart_rbac_plugin tests/cluster   # make test-cluster-chart-rbac

Every cluster test passing this way shows the chart's RBAC is enough for everything the suite
does (tests/cluster/test_chart_install.py shows it is not more than what is used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

USED: list[str] = []  # the ClusterRoles the operator was given, for the summary line


def chart_operator_kubeconfig(cluster: Any, path: Path) -> Path:
    from chartlib import objects, render

    namespace = "streamops-system"
    rendered = [
        o
        for o in objects(render(namespace=namespace))
        if o["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    (account,) = [o for o in rendered if o["kind"] == "ServiceAccount"]
    (role,) = [o for o in rendered if o["kind"] == "ClusterRole"]
    USED.append(
        f"{role['metadata']['name']} ({role['metadata']['labels']['helm.sh/chart']}, {len(role['rules'])} rules)"
    )
    return cluster.plane.service_account_kubeconfig(path, namespace, account["metadata"]["name"], rendered)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    patched = 0
    for plugin in session.config.pluginmanager.get_plugins():
        if hasattr(plugin, "operator_kubeconfig") and hasattr(plugin, "Operator"):
            plugin.operator_kubeconfig = chart_operator_kubeconfig
            patched += 1
    if session.items and not patched:
        raise pytest.UsageError("chart_rbac_plugin: no conftest with operator_kubeconfig() to replace")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if USED:
        terminalreporter.write_line(f"chart_rbac_plugin: the operator ran under the chart's ClusterRole {USED[-1]}")
    else:
        terminalreporter.write_line("chart_rbac_plugin: no operator was started")
