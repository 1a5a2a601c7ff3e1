"""The kind path cannot run here (no Docker engine): keep it honest statically — the workflow runs
the same make targets a developer runs, the targets exist, versions are pinned, scripts parse."""

from __future__ import annotations

import re
import subprocess

import yaml
from devtools.chart import REPO


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z0-9-]+):", text, re.M))


def test_workflow_runs_the_make_targets() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "kind-e2e.yaml").read_text())
    steps = workflow["jobs"]["kind-e2e"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(r.startswith("make test") for r in runs)
    assert any(r.startswith("make kind-e2e") for r in runs)
    for run in runs:
        for target in re.findall(r"\bmake ([a-z0-9-]+)", run):
            assert target in make_targets(), target
    for step in steps:
        if "uses" in step:
            assert re.search(r"@v\d+\.\d+\.\d+$", step["uses"]), f"unpinned action {step['uses']}"


def test_make_targets_exist() -> None:
    assert {"helm", "chart", "chart-check", "images", "kind-up", "kind-e2e", "kind-down"} <= make_targets()
    test_rule = re.search(r"^test:.*\n(?:\t.*\n)*", (REPO / "Makefile").read_text(), re.M)
    assert test_rule, "make test has a rule"
    # make test builds helm and checks the chart (prerequisites or its recipe's sub-makes)
    assert " helm " in test_rule.group(0) and "chart-check" in test_rule.group(0), test_rule.group(0)


def test_versions_are_pinned() -> None:
    text = (REPO / "hack" / "versions.sh").read_text()
    assert re.search(r'HELM_VERSION="\$\{HELM_VERSION:-v3\.\d+\.\d+\}"', text)
    assert re.search(r'KIND_VERSION="\$\{KIND_VERSION:-v0\.\d+\.\d+\}"', text)
    assert re.search(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", text)


def test_scripts_parse() -> None:
    for script in ("kind.sh", "build-helm.sh"):
        result = subprocess.run(["bash", "-n", str(REPO / "hack" / script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_readme_keeps_the_untested_kind_path_out_of_install() -> None:
    """Issue 38, deliverable 5: the kind path never ran, so README's Install must not offer it, and
    where it is described it says it is untested."""
    readme = (REPO / "README.md").read_text()
    install = re.search(r"^## Install\n(.*?)^## ", readme, re.M | re.S)
    assert install, "README has an Install section"
    assert not re.search(r"kind-|kind cluster|kind\.sh|kind load", install.group(1), re.I), "kind is no install path"
    described = [p for p in readme.split("\n\n") if "make kind-e2e" in p or "make kind-up" in p]
    assert described and all("untested" in p for p in described), described
