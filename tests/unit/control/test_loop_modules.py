"""Issue 55's shape of the status loops, kept: each kind's `control/<kind>/loop.py` is wiring of at most
60 lines (docs/design/status-loops.md) and calls the Kubernetes API nowhere (`api.`): reads belong to
its observe, writes to tick.py's act and the named actuators."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import streamops.control

CONTROL = Path(streamops.control.__file__).parent
LOOPS = sorted(CONTROL.glob("*/loop.py"))


def api_calls(tree: ast.AST) -> list[int]:
    """Lines with an attribute of a name or attribute called `api` (`api.get`, `loop.state.api.patch`)."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "api")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "api")
        )
    )


def test_every_kind_has_a_loop_module() -> None:
    assert {path.parent.name for path in LOOPS} >= {"livestream", "recording", "restream", "clip", "broadcast"}


@pytest.mark.parametrize("path", LOOPS, ids=lambda path: path.parent.name)
def test_a_loop_module_is_short_wiring_with_no_api_call(path: Path) -> None:
    source = path.read_text()
    assert len(source.splitlines()) <= 60, f"{path.parent.name}/loop.py: move decisions to decide.py"
    assert api_calls(ast.parse(source)) == [], f"{path.parent.name}/loop.py calls the API"


def test_the_check_sees_an_api_call() -> None:
    assert api_calls(ast.parse("async def f(loop):\n    await loop.state.api.patch()\n    api.get()\n")) == [2, 3]
