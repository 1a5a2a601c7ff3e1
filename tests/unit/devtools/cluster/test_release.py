"""The session release's values (devtools.cluster.release): behind Traefik, its Pods are the trusted
proxies (docs/design/playback-rules.md, "Behind an ingress controller"), and the release follows
their addresses when they change. The cluster is a stand-in: only what the values read of it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from devtools.cluster import release as release_module
from devtools.cluster.release import Release, local_values


class Cluster:
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
    values = local_values(Cluster(["10.242.0.7/32", "10.242.1.4/32"]))
    assert values["playback"]["trustedProxyCIDRs"] == ["10.242.0.7/32", "10.242.1.4/32"]
    assert "trustedProxyCIDRs" not in local_values(Cluster([], ingress_controller=False))["playback"]


def test_the_release_upgrades_only_when_traefik_s_addresses_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(["10.242.0.7/32", "10.242.1.4/32"])
    release = Release(cluster)
    installed: list[dict[str, Any]] = []
    monkeypatch.setattr(release, "_install_with_values", lambda: installed.append(release.values))
    release.trust_the_ingress_controller()
    assert installed == [] and cluster.waited == 1
    cluster.cidrs = ["10.242.0.7/32", "10.242.1.9/32"]  # node-2's Traefik came back with a new address
    release.trust_the_ingress_controller()
    assert [v["playback"]["trustedProxyCIDRs"] for v in installed] == [["10.242.0.7/32", "10.242.1.9/32"]]
    assert installed[0]["playback"]["geoip"] == release_module.LOCAL_GEOIP, "the other values kept"
