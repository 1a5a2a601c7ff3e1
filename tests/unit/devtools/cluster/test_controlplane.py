"""The local control plane (devtools.cluster.controlplane) as the real add-ons need it: the API server has
the aggregation layer's flags and its front proxy a CA of its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.network import ClusterNetwork

from devtools import pki


def test_the_api_server_has_the_aggregation_layer(tmp_path: Path) -> None:
    pki.ensure_pki(tmp_path / "pki", "10.96.0.0/16")
    flags = ControlPlane(tmp_path, bin_dir=tmp_path)._aggregation_flags()
    assert f"--requestheader-client-ca-file={tmp_path / 'pki' / 'front-proxy-ca.crt'}" in flags
    assert "--requestheader-allowed-names=front-proxy-client" in flags
    for flag in flags:
        if flag.endswith((".crt", ".key")):
            assert Path(flag.partition("=")[2]).exists(), flag
    # The front proxy's client certificate is signed by its own CA, not by the cluster's.
    verify = ["openssl", "verify", "-CAfile"]
    client = str(tmp_path / "pki" / "front-proxy-client.crt")
    assert subprocess.run([*verify, str(tmp_path / "pki" / "front-proxy-ca.crt"), client], check=False,
                          capture_output=True).returncode == 0  # fmt: skip
    assert subprocess.run([*verify, str(tmp_path / "pki" / "ca.crt"), client], check=False,
                          capture_output=True).returncode != 0  # fmt: skip


def test_the_endpoints_controller_is_off_only_where_endpoints_could_not_hold_the_pods(tmp_path: Path) -> None:
    # Without the pod network the workers are hostNetwork Pods at 127.0.0.1, which Endpoints refuse;
    # with it, the Endpoints are valid and stay kept. Either way EndpointSlices are kept (the
    # operator reads them) and the ServiceCIDR controller is off.
    bare = ControlPlane(tmp_path / "bare", bin_dir=tmp_path).idle_controllers
    island = ControlPlane(tmp_path / "island", bin_dir=tmp_path, network=ClusterNetwork(tmp_path, 2)).idle_controllers
    assert set(bare) == {"endpoints-controller", "service-cidr-controller"}
    assert set(island) == {"service-cidr-controller"}
    assert not any("endpointslice" in c for c in (*bare, *island))
