"""A stream's playback route is watched: an Ingress or HTTPRoute deleted by hand is back at once,
not at the next resync (issue 25). The operator here resyncs every 600 s, so only the watch can
bring it back within the test's wait.

On a control plane of its own, started without the Gateway API (like the suite's): the operator
starts anyway and watches Ingresses; once the Gateway API's CRDs are installed it watches
HTTPRoutes too (kopf watches CRDs and rescans), with no restart. Where discovery lagged every event
of the CRDs (CI of stop 48), the operator's own rescans catch up: the last test drives them against
this API server with a kopf view that missed the group.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import kopf
import pytest
from devtools.catalog import livestream
from devtools.cluster import addons
from devtools.cluster import suite as cluster_harness
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.kubectl import condition
from devtools.cluster.operator_process import OperatorProcess
from devtools.cluster.suite import OPERATOR_ENV, Cluster
from devtools.waits import eventually
from kopf._cogs.clients import auth
from kopf._cogs.structs import credentials, references
from streamops.control.runtime.discovery_rescan import kopf_discovery_rescans

NO_RESYNC = {**OPERATOR_ENV, "STREAMOPS_RESYNC_SECONDS": "600"}
BACK_WITHIN = 30.0  # a bound for the wait, not a performance figure: the watch takes well under 1 s
# What kopf says while the Gateway API is not served: at start, and again on every event of any CRD
# (the operator lets each distinct message through once).
UNSERVED = "Unresolved resources cannot be served (try creating their CRDs)"
WATCHING_HTTPROUTES = "Starting the watch-stream for httproutes.v1.gateway.networking.k8s.io"  # (debug: --verbose)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("routes") / "cp") as cp:
        yield cp


@pytest.fixture(scope="module")
def routes_cluster(plane: ControlPlane) -> Cluster:
    cluster = Cluster(plane)
    cluster.apply_crds()
    return cluster


@pytest.fixture(scope="module")
def slow_resync_operator(
    routes_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator under rbac.py's rules (or the chart's, with devtools.chart_rbac_plugin)."""
    workdir = tmp_path_factory.mktemp("routes-operator")
    kubeconfig = cluster_harness.operator_kubeconfig(routes_cluster, workdir / "kubeconfig")
    op = OperatorProcess(kubeconfig, workdir / "operator.log", NO_RESYNC).start()
    try:
        yield op
    finally:
        op.stop()


def new_namespace(cluster: Cluster) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.create("", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def put_back_after_deletion(cluster: Cluster, ns: str, plural: str) -> None:
    first = eventually(lambda: cluster.get(plural, ns, "cam-playback"), what=f"the stream's {plural}")
    cluster.delete(plural, ns, "cam-playback", wait=True)
    gone = first["metadata"]["uid"]
    again = eventually(
        lambda: (r := cluster.get(plural, ns, "cam-playback")) and r["metadata"]["uid"] != gone and r,
        timeout=BACK_WITHIN,
        what=f"the deleted {plural} put back by the watch (the resync is 600 s away)",
    )
    assert again["metadata"]["ownerReferences"][0]["name"] == "cam"
    assert again["spec"] == first["spec"]


def install_gateway_api(cluster: Cluster) -> None:
    items = addons.gateway_api_manifests(crds_only=True)
    cluster.apply("", *items)
    cluster.wait_established("httproutes.gateway.networking.k8s.io")


def test_a_deleted_ingress_is_put_back_at_once(routes_cluster: Cluster, slow_resync_operator: OperatorProcess) -> None:
    ns = new_namespace(routes_cluster)
    routes_cluster.apply(ns, livestream("cam", playback={"ingress": {"host": "tv.example"}}))
    eventually(lambda: condition(routes_cluster.get("livestreams", ns, "cam"), "Ready"), what="the stream reconciled")
    put_back_after_deletion(routes_cluster, ns, "ingresses")
    # Without the Gateway API: kopf's one warning, and nothing worse.
    logs = slow_resync_operator.logs()
    assert UNSERVED in logs and "httproutes" in logs, logs[-3000:]
    assert "Traceback" not in logs and "forbidden" not in logs.lower(), logs[-3000:]


def test_a_deleted_httproute_is_put_back_once_the_gateway_api_is_installed(
    routes_cluster: Cluster, slow_resync_operator: OperatorProcess
) -> None:
    install_gateway_api(routes_cluster)
    # kopf saw the CRD appear and watches HTTPRoutes now (its listing comes right after this line).
    eventually(lambda: WATCHING_HTTPROUTES in slow_resync_operator.logs(), timeout=60, what="kopf watching HTTPRoutes")
    assert slow_resync_operator.logs().count(UNSERVED) == 1, "said once, not on each of the CRDs' events"
    ns = new_namespace(routes_cluster)
    http_route = {"parentRefs": [{"name": "web"}], "hostnames": ["tv.example"]}
    routes_cluster.apply(ns, livestream("cam", playback={"httpRoute": http_route}))
    put_back_after_deletion(routes_cluster, ns, "httproutes")
    logs = slow_resync_operator.logs()
    assert "Traceback" not in logs and "forbidden" not in logs.lower(), logs[-3000:]


async def rescan_as_the_operator() -> tuple[list[str], set[tuple[str, str]]]:
    """One tick of the operator's rescans with kopf's own view, its login and its rescan of a group,
    in a view that has everything but the Gateway API: what kopf holds after its rescans at the
    CRDs' events all came before discovery served the group."""
    registry = kopf.OperatorRegistry()

    @kopf.on.event("gateway.networking.k8s.io", "v1", "httproutes", registry=registry)
    async def route_event(**_: object) -> None: ...

    settings = kopf.OperatorSettings()
    info = kopf.login_with_kubeconfig(settings=settings)
    assert info is not None
    vault = credentials.Vault()
    await vault.populate({"test": info})
    auth.vault_var.set(vault)
    insights = references.Insights()
    insights.ready_resources.set()
    rescans = kopf_discovery_rescans(settings, registry, insights, [("gateway.networking.k8s.io", "httproutes")])
    try:
        rescanned = await rescans.tick()
    finally:
        await vault.close()
    return rescanned, {(r.group, r.plural) for r in insights.watched_resources}


def test_the_operators_rescans_watch_a_group_kopf_missed(
    routes_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before runtime/discovery_rescan.py nothing looked again, and HTTPRoutes went unwatched until a restart."""
    install_gateway_api(routes_cluster)
    monkeypatch.setenv("KUBECONFIG", str(routes_cluster.kubeconfig))
    rescanned, watched = asyncio.run(rescan_as_the_operator())
    assert rescanned == ["gateway.networking.k8s.io"]
    assert ("gateway.networking.k8s.io", "httproutes") in watched, watched
