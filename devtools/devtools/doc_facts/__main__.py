"""`python -m devtools.doc_facts write|check [--root DIR] [FILE…]`: `make docs` and `make docs-check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devtools.doc_blocks import markdown_files
from devtools.doc_facts.documents import outcomes, report, write
from devtools.versions import REPO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.doc_facts", description=__doc__)
    parser.add_argument("action", choices=("write", "check"))
    parser.add_argument("--root", type=Path, default=REPO, help="the docs' root (default: this checkout)")
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: every *.md under --root)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    files = [f.resolve() for f in args.files] or markdown_files(root)
    results = outcomes(root, files)
    problems = [p for r in results for p in r.problems]
    if args.action == "write":
        for path in write(results):
            print(f"rewrote {path.relative_to(root)}")
        if problems:
            print("\n".join(problems), file=sys.stderr)
        return 1 if problems else 0
    text = report(root, results)
    if text:
        print(text)
        if any(r.stale for r in results):
            print("\nA generated block differs from the code: `make docs` rewrites it.", file=sys.stderr)
        if problems:
            print("A file lacks a block it must hold: add its two marker lines, then `make docs`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
