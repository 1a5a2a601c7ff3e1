"""The CLI as a user gets it (issue 54): `pip install ./operator` into a fresh venv, then `streamops`
and `kubectl-streamops` from that venv alone. Installed with uv (`uv pip install`, the installer of
`make venv`) from its cache, offline: `make venv` has just fetched every pinned dependency into it, so
this needs no network and takes ≈3 s where pip took ≈27. It installs operator/pyproject.toml's
dependency list and nothing of the project venv (no --system-site-packages): a dependency missing
from the list fails here."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from devtools.versions import REPO, sourced
from streamops.api.crd import crd_files
from streamops.cli import kubectl_plugin, streamops_command

PYPROJECT = REPO / "operator" / "pyproject.toml"


def _verbs(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_pyproject_declares_python_3_11_and_both_commands():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"] == {
        "streamops": "streamops.cli.streamops_command:main",
        "kubectl-streamops": "streamops.cli.kubectl_plugin:main",
    }


def test_pip_install_of_operator_gives_both_commands(tmp_path: Path):
    uv = sourced("UV_BIN")
    # A copy, as a clone's operator/ is: the build writes build/ and *.egg-info beside the sources.
    source = tmp_path / "operator"
    shutil.copytree(
        REPO / "operator", source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__", ".mypy_cache")
    )
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    subprocess.run([uv, "venv", "-q", "--python", "python3", str(venv)], env=env, check=True, timeout=120)
    installed = subprocess.run(
        [uv, "pip", "install", "-q", "--offline", "--native-tls", "--python", str(venv / "bin/python"), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, f"uv pip install ./operator (offline: run make venv first):\n{installed.stderr}"

    for command, parser in (("streamops", streamops_command.parser()), ("kubectl-streamops", kubectl_plugin.parser())):
        helped = subprocess.run(
            [str(venv / "bin" / command), "--help"], env=env, capture_output=True, text=True, timeout=60
        )
        assert helped.returncode == 0, helped.stderr
        for verb in _verbs(parser):
            assert f"\n    {verb}" in helped.stdout, f"{command} --help lists {verb}"

    # The installed package generates the CRDs (pydantic, pyyaml from the declared list), as `make crds` does.
    subprocess.run(
        [str(venv / "bin/streamops"), "crds", "--out", str(tmp_path / "crds")], env=env, check=True, timeout=60
    )
    assert {p.name: p.read_text() for p in (tmp_path / "crds").iterdir()} == crd_files()
