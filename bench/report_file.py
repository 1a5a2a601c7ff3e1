"""Writing a benchmark's report: the measured part is rewritten, the findings written by hand
under FINDINGS in the previous report are kept (a re-run must not erase the analysis of the run
before; the analysis quotes its run's date)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
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


def report_sections(text: str, headings: Mapping[str, str], first: str) -> dict[str, str]:
    """A report of several sections (a bench's --rows) cut into them: `first` (everything before the
    first known heading), each other section from its heading (`headings`: key -> heading line),
    and FINDINGS (written by hand) from its heading to the end."""
    marks = sorted(
        (text.index(heading), key) for key, heading in [*headings.items(), (FINDINGS, FINDINGS)] if heading in text
    )
    sections = {first: text[: marks[0][0]] if marks else text}
    ends = [start for start, _ in marks[1:]] + [len(text)] * bool(marks)
    for (start, key), end in zip(marks, ends, strict=True):
        sections[key] = text[start:end]
    return {key: value.strip("\n") for key, value in sections.items() if value.strip()}


def merged_report(
    previous: str, measured: Mapping[str, list[str]], headings: Mapping[str, str], order: Sequence[str]
) -> str:
    """The report with the sections measured now (`order[0]` is the one without a heading of its
    own), the others and the findings kept from the previous one."""
    sections = report_sections(previous, headings, order[0])
    sections.update({key: "\n".join(lines).strip("\n") for key, lines in measured.items()})
    ordered = [sections[key] for key in (*order, FINDINGS) if key in sections]
    return "\n\n".join(ordered) + "\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table's lines."""
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(r)} |" for r in rows)]
