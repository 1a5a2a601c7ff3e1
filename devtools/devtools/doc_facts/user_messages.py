"""The strings a user can see, to check a documented message against: every string literal of the
operator's Python (f-strings with the module constants they use filled in, any other value a
placeholder) and the text of the chart's files. A documented message's <placeholders> match anything;
its fixed parts must occur, in order, in one of those strings."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator

from devtools.versions import REPO

PYTHON = REPO / "operator" / "streamops"
CHART = REPO / "charts" / "streamops"
UNKNOWN = "\x00"  # a value only known at run time
PLACEHOLDER = re.compile(r"<[^<>\s][^<>]*>")


def _string_nodes(tree: ast.AST) -> Iterator[ast.Constant | ast.JoinedStr]:
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstring.update(id(v) for v in node.values)
            yield node
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstring:
            yield node


def _text(node: ast.AST, constants: dict[str, str]) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v, constants) for v in node.values)
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name) and node.format_spec is None:
        return constants.get(node.value.id, UNKNOWN)
    return UNKNOWN


def _module_constants(trees: list[ast.Module]) -> dict[str, str]:
    """NAME = "…" / f"…{OTHER}…" at any module's top level, by name; a name given two different values
    in two modules is left unknown. Resolved until nothing changes (GROUP, then the labels made of it)."""
    assignments: dict[str, list[ast.AST]] = {}
    for tree in trees:
        for stmt in tree.body:
            target = value = None
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                target, value = stmt.target, stmt.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant | ast.JoinedStr):
                assignments.setdefault(target.id, []).append(value)
    constants: dict[str, str] = {}
    while True:
        resolved = {}
        for name, values in assignments.items():
            texts = {_text(v, constants) for v in values}
            if len(texts) == 1 and UNKNOWN not in (text := texts.pop()):
                resolved[name] = text
        if resolved == constants:
            return constants
        constants = resolved


@functools.cache
def strings() -> tuple[str, ...]:
    trees = [ast.parse(path.read_text(), str(path)) for path in sorted(PYTHON.rglob("*.py"))]
    constants = _module_constants(trees)
    found = [_text(node, constants) for tree in trees for node in _string_nodes(tree)]
    found += [
        path.read_text(errors="replace")
        for path in sorted(CHART.rglob("*"))
        if path.is_file() and path.suffix != ".tgz"
    ]
    return tuple(found)


def fixed_parts(message: str) -> list[str]:
    return [part for part in PLACEHOLDER.split(message) if part]


def occurs(message: str) -> bool:
    """Whether `message`, its <placeholders> matching anything, is in one of the strings users see."""
    pattern = re.compile(".*?".join(re.escape(part) for part in fixed_parts(message)), re.S)
    return any(pattern.search(s) for s in strings())
