"""The strings a user can see, to check a documented message against: every string literal of the
operator's Python (f-strings with the module constants they use filled in, and a call of a module
function that only returns an f-string expanded; any other value unknown) and the text of the chart's
files (a template's {{ … }} unknown). A documented message's <placeholders> match anything on one
line; its fixed parts must occur, in order, in one of those strings."""

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
TEMPLATE_ACTION = re.compile(r"\{\{.*?\}\}", re.S)


def _string_nodes(tree: ast.AST) -> Iterator[ast.Constant | ast.JoinedStr]:
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstring.update(id(v) for v in node.values)
            yield node
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstring:
            yield node


def _text(node: ast.AST, constants: dict[str, str], templates: dict[str, ast.JoinedStr] | None = None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v, constants, templates) for v in node.values)
    if isinstance(node, ast.FormattedValue) and node.format_spec is None:
        value = node.value
        if isinstance(value, ast.Name):
            return constants.get(value.id, UNKNOWN)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in (templates or {}):
            # `namespace_prefix(ns)` → "/streams/\x00/": the function's own parameters are no constants.
            return _text((templates or {})[value.func.id], constants)
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


def _returned_templates(trees: list[ast.Module]) -> dict[str, ast.JoinedStr]:
    """Module functions whose body (after a docstring) is only `return f"…"`, by name; a name defined
    twice differently is left out."""
    found: dict[str, list[ast.JoinedStr]] = {}
    for tree in trees:
        for stmt in tree.body:
            if not isinstance(stmt, ast.FunctionDef):
                continue
            body = stmt.body[1:] if ast.get_docstring(stmt) is not None else stmt.body
            if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.JoinedStr):
                found.setdefault(stmt.name, []).append(body[0].value)
    return {name: nodes[0] for name, nodes in found.items() if len({ast.dump(n) for n in nodes}) == 1}


@functools.cache
def strings() -> tuple[str, ...]:
    trees = [ast.parse(path.read_text(), str(path)) for path in sorted(PYTHON.rglob("*.py"))]
    constants, templates = _module_constants(trees), _returned_templates(trees)
    found = [_text(node, constants, templates) for tree in trees for node in _string_nodes(tree)]
    for path in sorted(CHART.rglob("*")):
        if path.is_file() and path.suffix != ".tgz":
            found.append(TEMPLATE_ACTION.sub(UNKNOWN, path.read_text(errors="replace")))
    return tuple(found)


def fixed_parts(message: str) -> list[str]:
    return [part for part in PLACEHOLDER.split(message) if part]


def occurs(message: str) -> bool:
    """Whether `message`, its <placeholders> matching anything on one line, is in a string users see."""
    pattern = re.compile("[^\n]*?".join(re.escape(part) for part in fixed_parts(message)))
    return any(pattern.search(s) for s in strings())
