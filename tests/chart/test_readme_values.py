"""The chart README's table of values states the defaults values.yaml has: a new user reads the
table, not the YAML (it said `idleIntervalSeconds` 2 while the chart installed 10)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from devtools.chart import CHART

CODE = re.compile(r"`([^`]*)`")


def documented_defaults() -> list[tuple[str, str]]:
    """(dotted value, default as written) for every table row whose names and defaults pair up one
    to one: `a.b.c`, `d`, `e` | `1`, `2`, `3` (a bare name continues the first name's parent)."""
    pairs: list[tuple[str, str]] = []
    for line in (CHART / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names, defaults = CODE.findall(cells[0]), [d.strip() for d in re.split(r",|–", cells[1])]
        if len(names) < 2 or len(names) != len(defaults) or not all(d.startswith("`") for d in defaults):
            continue
        parent = names[0].rpartition(".")[0]
        for name, default in zip(names, defaults, strict=True):
            full = f"{parent}.{name}" if parent and "." not in name else name
            pairs.append((full, default.strip("`")))
    return pairs


def value_at(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


def test_the_readme_states_the_defaults_values_yaml_has() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    pairs = documented_defaults()
    assert len(pairs) >= 12, f"the README's table changed shape: only {pairs} paired up"
    wrong = [
        (name, written, value_at(values, name))
        for name, written in pairs
        if yaml.safe_load(written or "''") != value_at(values, name)
    ]
    assert not wrong, f"README says (value, README, values.yaml): {wrong}"
