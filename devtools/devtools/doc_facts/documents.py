"""The Markdown files with generated blocks: which blocks each must hold (REQUIRED), the check (a diff
per stale file, a line per missing block) and the write. The only module here that reads the docs or
writes them."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.doc_facts.blocks import BlockError, find_blocks, opening_marker, rewritten
from devtools.doc_facts.renderers import RENDERERS

# Where each block must be (a file may hold others too): what a reader of that file needs first.
REQUIRED: dict[str, tuple[str, ...]] = {
    "README.md": ("kubectl-get", "kinds", "cli", "kubernetes-range", "refused-defaults"),
    "charts/streamops/README.md": ("refused-defaults",),
    "docs/guide/webhooks.md": ("webhook-events",),
    "CONTRIBUTING.md": ("make-targets", "worker-roles"),
}


@dataclass
class Renderer:
    """Each block rendered once per run, however many files hold it."""

    root: Path
    renderers: dict[str, Callable[[Path], str]] = field(default_factory=lambda: RENDERERS)
    done: dict[str, str] = field(default_factory=dict)

    def __call__(self, name: str) -> str:
        if name not in self.renderers:
            raise BlockError(f"no renderer for the block {name!r} (known: {', '.join(sorted(self.renderers))})")
        if name not in self.done:
            try:
                self.done[name] = self.renderers[name](self.root)
            except (ValueError, OSError) as e:  # what the code or docs/refused-defaults.yaml lacks, said once
                raise BlockError(f"the {name} block cannot be rendered: {e}") from e
        return self.done[name]


@dataclass(frozen=True)
class Outcome:
    path: Path
    current: str
    wanted: str
    problems: list[str]  # missing required blocks, broken markers

    @property
    def stale(self) -> bool:
        return self.current != self.wanted


def outcomes(root: Path, files: Iterable[Path], required: dict[str, tuple[str, ...]] = REQUIRED) -> list[Outcome]:
    render = Renderer(root)
    found = []
    files = sorted(set(files) | {root / name for name in required})
    for path in files:
        relative = path.relative_to(root).as_posix()
        if not path.exists():
            found.append(
                Outcome(
                    path, "", "", [f"{relative}: missing (it must hold the blocks {', '.join(required[relative])})"]
                )
            )
            continue
        text = path.read_text()
        try:
            present = {b.name for b in find_blocks(text)}
            wanted = rewritten(text, render)
        except BlockError as e:
            found.append(Outcome(path, text, text, [f"{relative}: {e}"]))
            continue
        problems = [
            f"{relative}: no {opening_marker(name)} block (devtools/doc_facts/documents.py REQUIRED)"
            for name in required.get(relative, ())
            if name not in present
        ]
        found.append(Outcome(path, text, wanted, problems))
    return found


def report(root: Path, results: list[Outcome]) -> str:
    lines: list[str] = []
    for r in results:
        lines += r.problems
        if r.stale:
            name = r.path.relative_to(root).as_posix()
            lines += difflib.unified_diff(
                r.current.splitlines(), r.wanted.splitlines(), f"a/{name}", f"b/{name}", lineterm=""
            )
    return "\n".join(lines)


def write(results: list[Outcome]) -> list[Path]:
    """Rewrite the stale files; the written ones."""
    written = []
    for r in results:
        if r.stale:
            r.path.write_text(r.wanted)
            written.append(r.path)
    return written
