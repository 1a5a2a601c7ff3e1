"""Writing a benchmark's report: the measured part is rewritten, the findings written by hand
under FINDINGS in the previous report are kept (a re-run must not erase the analysis of the run
before; the analysis quotes its run's date)."""

from __future__ import annotations

from pathlib import Path

FINDINGS = "## Findings"


def write_report(path: Path, text: str) -> None:
    if path.exists() and FINDINGS in (old := path.read_text()):
        text = text.rstrip("\n") + "\n\n" + old[old.index(FINDINGS) :]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
