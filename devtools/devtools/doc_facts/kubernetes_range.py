"""The supported Kubernetes range: the chart's kubeVersion (what helm refuses to install below) and the
version every test tier runs (hack/versions.sh's KUBE_VERSION default, not the environment's)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from devtools.versions import REPO

CHART = REPO / "charts" / "streamops" / "Chart.yaml"
VERSIONS_SH = REPO / "hack" / "versions.sh"
# ">=1.30.0-0" (the -0 admits pre-releases and the providers' suffixes: v1.30.2-eks-…), with an
# optional upper bound "<1.35.0-0".
CONSTRAINT = re.compile(r">=\s*(\d+)\.(\d+)\.0(?:-0)?(?:\s*,?\s*<\s*(\d+)\.(\d+)\.0(?:-0)?)?")


def chart_range(chart: Path = CHART) -> tuple[str, str | None]:
    """(lowest minor, first minor refused or None) from the chart's kubeVersion."""
    constraint = str(yaml.safe_load(chart.read_text())["kubeVersion"])
    m = CONSTRAINT.fullmatch(constraint.strip())
    if not m:
        raise ValueError(
            f"{chart}: kubeVersion {constraint!r} is not >=X.Y.0-0 [<X.Y.0-0]: say it in kubernetes_range.py"
        )
    lowest = f"{m.group(1)}.{m.group(2)}"
    return lowest, (f"{m.group(3)}.{m.group(4)}" if m.group(3) else None)


def tested_version(versions_sh: Path = VERSIONS_SH) -> str:
    m = re.search(r'^KUBE_VERSION="\$\{KUBE_VERSION:-v([^}"]+)\}"', versions_sh.read_text(), re.M)
    if not m:
        raise ValueError(f"{versions_sh}: no KUBE_VERSION default")
    return m.group(1)


def render() -> str:
    lowest, refused = chart_range()
    span = f"{lowest} up to (not including) {refused}" if refused else f"{lowest} or newer"
    return (
        f"Kubernetes {span}: the chart's `kubeVersion` is `{yaml.safe_load(CHART.read_text())['kubeVersion']}`. "
        f"Every test tier runs Kubernetes {tested_version()} (built from its Go modules, `hack/versions.sh`)."
    )
