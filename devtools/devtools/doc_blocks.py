"""The shell blocks the docs mark for tests to run as written: a fenced block between
`<!-- NAME:begin -->` and `<!-- NAME:end -->` in whichever tracked Markdown file holds it (README.md,
CONTRIBUTING.md, docs/**), so moving a block to another page does not break its test.

    lines = documented_block("quick-start")   # the block's lines, as a reader copies them
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

from devtools.versions import REPO


def markdown_files(root: Path = REPO) -> list[Path]:
    """The *.md files git tracks or would add (not ignored ones: .venv, node_modules), each once even
    mid-merge; every *.md under `root` when it is no git checkout (a copy to try the docs on)."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.md"],
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0 or not (root / ".git").exists():
        return sorted(p for p in root.rglob("*.md") if p.is_file())
    return sorted({root / name for name in listed.stdout.split("\0") if name and (root / name).is_file()})


def documented_block(name: str, repo: Path = REPO) -> list[str]:
    """The lines of the one block marked `name` in the repository's Markdown."""
    pattern = re.compile(
        rf"<!-- {re.escape(name)}:begin -->\n```(?:sh|bash)\n(.*?)```\n<!-- {re.escape(name)}:end -->", re.S
    )
    found = [(path, m.group(1)) for path in markdown_files(repo) for m in pattern.finditer(path.read_text())]
    if len(found) != 1:
        raise LookupError(f"expected one block marked {name!r} in the tracked *.md, found {[str(p) for p, _ in found]}")
    return found[0][1].splitlines()


def helm_set_values(command: str) -> dict[str, Any]:
    """The values a `helm install|upgrade … --set a.b=v --set-json 'k=JSON'` command sets, as nested
    dicts (--set as Helm reads a plain value: true/false, integers, else the string)."""
    words = shlex.split(command.replace("\\\n", " "), comments=True)
    values: dict[str, Any] = {}
    for flag, arg in itertools.pairwise(words):
        if flag not in ("--set", "--set-json", "--set-string"):
            continue
        key, _, text = arg.partition("=")
        value: Any = text
        if flag == "--set-json":
            value = json.loads(text)
        elif flag == "--set":
            value = {"true": True, "false": False}.get(text, int(text) if text.lstrip("-").isdigit() else text)
        node = values
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return values
