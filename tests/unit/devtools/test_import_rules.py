"""`make lint`'s import rules: no import cycle in the operator's package or in bench/, no module
importing a sibling by its bare name, no kind folder importing another kind's. Checked on small
packages written here (each rule breaks once) and on the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from devtools.import_rules import main, problems
from devtools.versions import REPO

OPERATOR_PACKAGE = REPO / "operator" / "streamops"
BENCH_PACKAGE = REPO / "bench"


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `pkg` laid out like streamops: control/<kind>/, control/shared/, media/."""
    root = tmp_path / "pkg"
    for name in ("", "control", "control/livestream", "control/recording", "control/shared", "media"):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)
    return root


CLEAN = {
    "control/shared/address.py": "FEED = '/feed'\n",
    "control/livestream/builders.py": "from pkg.control.shared.address import FEED\n",
    "control/recording/builders.py": "from pkg.control.shared import address\n",
    "control/recording/reasons.py": "STALLED = 'Stalled'\n",
    "control/handlers.py": "from pkg.control.livestream import builders\nfrom pkg.control.recording import builders\n",
    "media/worker.py": "from pkg.media.session import Session\n",
    "media/session.py": "class Session: ...\n",
}


def test_a_package_that_keeps_the_rules_passes(tmp_path: Path) -> None:
    assert problems(package(tmp_path, CLEAN)) == []


def test_a_cycle_fails_even_under_type_checking(tmp_path: Path) -> None:
    session = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.media.worker import W\n"
    root = package(tmp_path, {**CLEAN, "media/session.py": session})
    assert problems(root) == ["import cycle: pkg.media.session <-> pkg.media.worker"]


def test_a_cycle_through_a_relative_import_in_a_function_fails(tmp_path: Path) -> None:
    root = package(tmp_path, {**CLEAN, "media/session.py": "def later():\n    from .worker import W\n"})
    assert problems(root) == ["import cycle: pkg.media.session <-> pkg.media.worker"]


def test_a_kind_importing_another_kind_fails(tmp_path: Path) -> None:
    root = package(
        tmp_path, {**CLEAN, "control/recording/builders.py": "from pkg.control.livestream.builders import FEED\n"}
    )
    assert problems(root) == [
        "pkg.control.recording.builders:1 imports pkg.control.livestream.builders: "
        "a kind folder imports another kind's folder"
    ]


def test_shared_importing_a_kind_fails(tmp_path: Path) -> None:
    root = package(tmp_path, {**CLEAN, "control/shared/address.py": "import pkg.control.recording.reasons\n"})
    assert [line.split(" imports ")[0] for line in problems(root)] == ["pkg.control.shared.address:1"]


def test_the_operator_package_keeps_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(OPERATOR_PACKAGE)]) == 0, capsys.readouterr().err


def test_a_bare_sibling_import_fails(tmp_path: Path) -> None:
    """`from session import Session`, as a script beside it would: a cycle through it goes unseen."""
    root = package(tmp_path, {**CLEAN, "runner.py": "import json\nfrom session import Session\n", "session.py": ""})
    assert problems(root) == ["pkg.runner:2 imports session by its bare name: import pkg.session"]


def test_a_standard_library_name_is_the_librarys(tmp_path: Path) -> None:
    """bench/operator.py beside a module that imports the standard library's `operator`."""
    root = package(tmp_path, {**CLEAN, "operator.py": "", "runner.py": "import operator\nfrom pkg import operator\n"})
    assert problems(root) == []


def test_two_scripts_importing_each_other_fail(tmp_path: Path) -> None:
    """What bench/playback.py and bench/playback_cluster.py did before what both use moved out."""
    root = package(
        tmp_path,
        {
            **CLEAN,
            "playback.py": "def main():\n    from pkg import playback_cluster\n",
            "playback_cluster.py": "from pkg.playback import hlsload\n",
        },
    )
    assert problems(root) == ["import cycle: pkg.playback <-> pkg.playback_cluster"]


def test_the_bench_package_keeps_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert (BENCH_PACKAGE / "__init__.py").exists(), "bench/ is a package: `python -m bench.<module>`"
    assert main([str(BENCH_PACKAGE)]) == 0, capsys.readouterr().err
