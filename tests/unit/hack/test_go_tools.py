"""hack/versions.sh's GO_TOOLS table and hack/go-tool.sh, the one build of the pinned Go tools: every
hack/build-<tool>.sh of a Go module goes through it, says where its binary is as versions.sh does
(the cache paths of earlier builds, so nothing rebuilds), and keeps no build skeleton of its own.
Nothing is built here: --print-path only."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from devtools.versions import REPO

HACK = REPO / "hack"
# The wrapper of each row, and the versions.sh variable its binary was always at.
WRAPPERS = {
    "helm": "HELM_BIN",
    "crane": "CRANE_BIN",
    "registry": "REGISTRY_BIN",
    "versitygw": "VERSITYGW_BIN",
    "coredns": "COREDNS_BIN",
    "traefik": "TRAEFIK_BIN",
    "prometheus": "PROMETHEUS_BIN",
    "kube-network-policies": "KUBE_NETWORK_POLICIES_BIN",
    "metrics-server": "METRICS_SERVER_BIN",
}
# The rows with a binary each of several ({bin}): the wrapper's default binaries, in the directory
# versions.sh names.
MULTI = {
    "kube": ("KUBE_BIN_DIR", ["kube-apiserver", "kube-controller-manager", "kubectl"]),
    "cert-manager": ("CERT_MANAGER_DIR", ["bin/controller", "bin/webhook", "bin/cainjector"]),
    "prometheus-operator": ("PROMETHEUS_OPERATOR_BIN_DIR", ["operator", "prometheus-config-reloader"]),
}
# Builds of their own: FFmpeg is not Go; build-component.sh is our components' (keyed by sources).
NOT_GO_TOOLS = {
    "build-ffmpeg.sh",
    "build-component.sh",
    "build-webrtc.sh",
    "build-hlsload.sh",
    "build-rtmp.sh",
    "build-relay.sh",
    "build-readers.sh",
}


def bash(script: str, *args: str, cache: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cache.parent), "STREAMOPS_CACHE": str(cache)}
    result = subprocess.run(["bash", script, *args], capture_output=True, text=True, check=True, env=env)
    return result.stdout


def sourced(name: str, cache: Path) -> str:
    return bash("-c", f'source {HACK / "versions.sh"} && printf "%s" "${name}"', cache=cache)


def table_names(cache: Path) -> list[str]:
    table = sourced("GO_TOOLS", cache).splitlines()
    return [line.split("|")[0].strip() for line in table if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize(("tool", "variable"), sorted(WRAPPERS.items()))
def test_each_wrapper_prints_the_path_versions_sh_names(tmp_path: Path, tool: str, variable: str) -> None:
    printed = bash(str(HACK / f"build-{tool}.sh"), "--print-path", cache=tmp_path)
    assert printed.strip() == sourced(variable, tmp_path)
    assert printed.startswith(str(tmp_path) + "/")


def test_kube_prints_each_binary_in_the_kube_bin_dir(tmp_path: Path) -> None:
    printed = bash(str(HACK / "build-kube.sh"), "--print-path", "kubectl", "kubelet", cache=tmp_path).split()
    bin_dir = sourced("KUBE_BIN_DIR", tmp_path)
    assert printed == [f"{bin_dir}/kubectl", f"{bin_dir}/kubelet"]


@pytest.mark.parametrize("tool", sorted(MULTI))
def test_each_multi_binary_wrapper_prints_its_default_binaries(tmp_path: Path, tool: str) -> None:
    variable, binaries = MULTI[tool]
    printed = bash(str(HACK / f"build-{tool}.sh"), "--print-path", cache=tmp_path).split()
    where = sourced(variable, tmp_path)
    assert printed == [f"{where}/{b}" for b in binaries]


def test_every_go_build_script_is_a_row_of_the_table(tmp_path: Path) -> None:
    scripts = {p.name for p in HACK.glob("build-*.sh")} - NOT_GO_TOOLS
    assert {f"build-{name}.sh" for name in [*WRAPPERS, *MULTI]} == scripts
    names = table_names(tmp_path)
    assert len(names) == len(set(names)), names
    for script in scripts:
        called = re.findall(r"^go_tool_build ([a-z-]+)", (HACK / script).read_text(), re.M)
        assert called and called[0] in names, script


def test_only_the_skeletons_lock_and_build() -> None:
    """A wrapper that took its own lock or ran its own go build would be the drift this removed."""
    for script in sorted(HACK.glob("*.sh")):
        # fetch-prometheus-operator-crds.sh builds nothing: its lock keeps `make prometheus` and
        # `make prometheus-operator` (both fetch the CRDs, make -j) from copying at once. install-uv.sh
        # builds nothing either (pip installs uv's wheel): its lock keeps two makes from installing at once.
        # deps.sh installs Debian packages: FFmpeg's recipe and the image layers' run it side by side.
        if script.name in {
            "deps.sh",
            "go-tool.sh",
            "build-component.sh",
            "build-ffmpeg.sh",
            "fetch-prometheus-operator-crds.sh",
            "install-uv.sh",
        }:
            continue
        code = "\n".join(line for line in script.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"\bflock\b|\bgo (build|install)\b", code), script.name
