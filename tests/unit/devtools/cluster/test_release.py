"""The session release's put-back (devtools.cluster.release.Release.restore_later): what a test changed is
put back by the next helm command, which is the next test's own upgrade when it sets its values itself,
and what waits on the put-back runs after whichever command replaced the changed release. helm is a
stand-in recording its arguments (the real one: the multinode tier). Behind Traefik, its Pods are the
trusted proxies (docs/design/playback-rules.md, "Behind an ingress controller"), and the release follows
their addresses when they change."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from devtools.cluster import release as release_module
from devtools.cluster.release import Release, local_values, merged
from devtools.test_scopes import RELEASE_CHAIN, release_chain_rank

TESTS = Path(__file__).resolve().parents[3]


def fake_cluster() -> Any:
    nodes = [SimpleNamespace(name="node-1", ip="10.240.0.11"), SimpleNamespace(name="node-2", ip="10.240.0.12")]
    applied: list[dict[str, Any]] = []
    return SimpleNamespace(
        operator_image="operator", worker_image="worker", overlay_image=None, edge_image=None,
        image_ref=lambda image: f"registry.lan/streamops/{image}:abc", network=SimpleNamespace(nodes=nodes),
        kubeconfig=Path("/nonexistent/kubeconfig"), chart_ref="oci://registry.lan/streamops", chart_version="0.1.0",
        apply_objects=applied.extend, applied=applied, ingress_controller=False,
    )  # fmt: skip


@pytest.fixture
def helm(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """(helm's command, the values it was given) of each helm run."""
    ran: list[tuple[str, dict[str, Any]]] = []

    def run(argv: list[str], input: str | None = None, **_: Any) -> subprocess.CompletedProcess[str]:
        command = next(a for a in argv if a in ("upgrade", "uninstall"))
        ran.append((command, json.loads(input) if input else {}))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setenv("HELM", "/nonexistent/helm")
    monkeypatch.setattr(release_module.subprocess, "run", run)
    monkeypatch.setattr(Release, "_wait_for_a_current_leader", lambda self: None)
    return ran


def test_a_changed_release_is_put_back_only_when_a_test_needs_the_install(helm: list[Any]) -> None:
    release = Release(fake_cluster()).install()
    release.restore_if_due()
    assert len(helm) == 1, "nothing changed: nothing to put back"

    release.upgrade({"edge": {"maxReplicas": 4}})
    release.restore_later()
    short_days = {"worker": {"recordings": {"retentionDaySeconds": 15}}}
    release.upgrade(short_days)  # the next test's own values
    release.restore_if_due()
    assert [command for command, _ in helm] == ["upgrade"] * 3, "the put-back between them never ran"
    assert helm[-1][1] == merged(release.values, short_days), "every value set anew: no maxReplicas left"

    release.restore_later()
    release.restore_if_due()  # a test that needs the install
    assert helm[-1] == ("upgrade", release.values)
    release.restore_if_due()
    assert len(helm) == 4, "put back once"


def test_what_waits_on_the_put_back_runs_after_the_command_that_replaced_the_release(helm: list[Any]) -> None:
    release = Release(fake_cluster()).install()
    release.upgrade({"metrics": {"serviceMonitor": {"enabled": True}}})
    removed: list[int] = []
    release.restore_later(then=lambda: removed.append(len(helm)))
    assert not removed
    release.upgrade({"edge": {"maxReplicas": 4}})
    assert removed == [3], "after the upgrade that dropped the monitors"
    release.restore_later()
    release.restore_if_due()
    assert removed == [3], "once"


def test_an_uninstalled_release_is_installed_again_with_its_namespace(helm: list[Any]) -> None:
    cluster = fake_cluster()
    release = Release(cluster).install()
    release.uninstall()
    release.restore_later()
    cluster.applied.clear()
    release.upgrade({"edge": {"maxReplicas": 4}})  # the next test's upgrade installs it
    assert [o["kind"] for o in cluster.applied] == ["Namespace"]
    assert [command for command, _ in helm] == ["upgrade", "uninstall", "upgrade"]
    release.restore_if_due()
    assert len(helm) == 3


def test_the_release_chain_names_host_scope_modules_that_run_last_in_its_order() -> None:
    assert all((TESTS / path).is_file() for path in RELEASE_CHAIN), RELEASE_CHAIN
    assert [release_chain_rank(path) for path in RELEASE_CHAIN] == list(range(1, len(RELEASE_CHAIN) + 1))
    assert release_chain_rank("multinode/test_network.py") == 0


class TraefikCluster:
    def __init__(self, cidrs: list[str], ingress_controller: bool = True) -> None:
        self.cidrs = cidrs
        self.ingress_controller = ingress_controller
        self.network = SimpleNamespace(nodes=[SimpleNamespace(name="node-1", ip="10.241.0.11")])
        self.operator_image = self.worker_image = SimpleNamespace(repository="streamops", version="1")
        self.overlay_image = self.edge_image = None
        self.waited = 0

    def image_ref(self, image: Any) -> str:
        return f"10.241.0.1:5000/{image.repository}:{image.version}"

    def ingress_controller_cidrs(self) -> list[str]:
        return list(self.cidrs)

    def wait_ingress_controller(self) -> None:
        self.waited += 1


def test_traefik_s_pods_are_the_trusted_proxies_and_nothing_else() -> None:
    values = local_values(TraefikCluster(["10.242.0.7/32", "10.242.1.4/32"]))
    assert values["playback"]["trustedProxyCIDRs"] == ["10.242.0.7/32", "10.242.1.4/32"]
    assert "trustedProxyCIDRs" not in local_values(TraefikCluster([], ingress_controller=False))["playback"]


def test_the_release_upgrades_only_when_traefik_s_addresses_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = TraefikCluster(["10.242.0.7/32", "10.242.1.4/32"])
    release = Release(cluster)
    installed: list[dict[str, Any]] = []
    monkeypatch.setattr(release, "_install_with_values", lambda: installed.append(release.values))
    release.trust_the_ingress_controller()
    assert installed == [] and cluster.waited == 1
    cluster.cidrs = ["10.242.0.7/32", "10.242.1.9/32"]  # node-2's Traefik came back with a new address
    release.trust_the_ingress_controller()
    assert [v["playback"]["trustedProxyCIDRs"] for v in installed] == [["10.242.0.7/32", "10.242.1.9/32"]]
    assert installed[0]["playback"]["geoip"] == release_module.LOCAL_GEOIP, "the other values kept"
