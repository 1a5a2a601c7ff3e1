"""Writing a benchmark's report: the measured part is rewritten, the findings written by hand
under FINDINGS in the previous report are kept (a re-run must not erase the analysis of the run
before; the analysis quotes its run's date)."""

from __future__ import annotations

import subprocess
from pathlib import Path

FINDINGS = "## Findings"
ROOT = Path(__file__).resolve().parent.parent


def write_report(path: Path, text: str) -> None:
    if path.exists() and FINDINGS in (old := path.read_text()):
        text = text.rstrip("\n") + "\n\n" + old[old.index(FINDINGS) :]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit(*paths: str) -> str:
    """HEAD, marked when the tree (or `paths` of it) had uncommitted changes (read only: rev-parse
    and status)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "?"
    if not git("status", "--porcelain", "--", *paths).strip():
        return head
    return f"{head} (with uncommitted changes{' in ' + ' or '.join(paths) if paths else ''})"
