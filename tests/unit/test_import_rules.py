"""`make lint`'s import rules: no import cycle in the operator's package, no kind folder importing
another kind's. Checked on small packages written here (each rule breaks once) and on the real one."""

from __future__ import annotations

from pathlib import Path

import pytest
from devtools.import_rules import main, problems

OPERATOR_PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "streamops"


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `pkg` laid out like streamops: control/<kind>/, the common control folders, media/."""
    root = tmp_path / "pkg"
    folders = ("control/livestream", "control/recording", "control/runtime", "control/workers", "control/shared")
    for name in ("", "control", *folders, "media"):
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
    "control/workers/pod.py": "from pkg.control.shared.address import FEED\n",
    "control/runtime/loop.py": "from pkg.control.workers import pod\n",
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


@pytest.mark.parametrize("common", ["control/shared/address.py", "control/workers/pod.py", "control/runtime/loop.py"])
def test_a_common_folder_importing_a_kind_fails(tmp_path: Path, common: str) -> None:
    root = package(tmp_path, {**CLEAN, common: "import pkg.control.recording.reasons\n"})
    module = "pkg." + common.removesuffix(".py").replace("/", ".")
    assert [line.split(" imports ")[0] for line in problems(root)] == [f"{module}:1"]


def test_the_operator_package_keeps_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(OPERATOR_PACKAGE)]) == 0, capsys.readouterr().err
