from pathlib import Path

import pytest
from devtools.doc_facts import documents
from devtools.doc_facts.__main__ import main
from devtools.doc_facts.blocks import closing_marker, opening_marker
from devtools.versions import REPO


def _block(name: str, body: str = "stale") -> str:
    return f"{opening_marker(name)}\n{body}\n{closing_marker(name)}\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A copy of the required files, every required block in place with a stale body."""
    for name, blocks in documents.REQUIRED.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# " + name + "\n\nProse kept as is.\n\n" + "\n".join(_block(b) for b in blocks) + "\nThe end.\n"
        )
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs/refused-defaults.yaml").write_text((REPO / "docs/refused-defaults.yaml").read_text())
    return tmp_path


def test_check_fails_on_a_stale_block_with_a_diff_and_write_fixes_it_idempotently(docs, capsys):
    assert main(["check", "--root", str(docs)]) == 1
    out = capsys.readouterr()
    assert "--- a/README.md\n+++ b/README.md" in out.out and "-stale" in out.out
    assert "`make docs` rewrites it" in out.err

    assert main(["write", "--root", str(docs)]) == 0
    written = {p: p.read_text() for p in docs.rglob("*.md")}
    assert "$ kubectl get lst" in written[docs / "README.md"]
    assert written[docs / "README.md"].endswith("\nThe end.\n") and "Prose kept as is." in written[docs / "README.md"]
    assert "`make docs-check`" in written[docs / "CONTRIBUTING.md"]
    capsys.readouterr()

    assert main(["write", "--root", str(docs)]) == 0
    assert capsys.readouterr().out == ""  # nothing rewritten the second time
    assert {p: p.read_text() for p in docs.rglob("*.md")} == written
    assert main(["check", "--root", str(docs)]) == 0


def test_check_fails_when_a_required_block_is_missing(docs, capsys):
    main(["write", "--root", str(docs)])
    chart_readme = docs / "charts/streamops/README.md"
    chart_readme.write_text("# The chart\n")
    capsys.readouterr()
    assert main(["check", "--root", str(docs)]) == 1
    out = capsys.readouterr()
    assert "charts/streamops/README.md: no <!-- generated:refused-defaults --> block" in out.out
    assert "lacks a block it must hold" in out.err
    (docs / "CONTRIBUTING.md").unlink()
    assert main(["check", "--root", str(docs)]) == 1
    assert "CONTRIBUTING.md: missing (it must hold the blocks make-targets, worker-roles)" in capsys.readouterr().out


def test_an_unknown_block_or_a_broken_marker_is_a_problem_of_its_file(docs):
    other = docs / "docs/other.md"
    other.write_text(_block("no-such-block") + "<!-- generated:kinds -->\n")
    results = {r.path: r for r in documents.outcomes(docs, [other])}
    assert results[other].problems == [
        "docs/other.md: line 4: <!-- generated:kinds --> is never closed by <!-- /generated:kinds -->"
    ]
    other.write_text(_block("no-such-block"))
    (problem,) = {r.path: r for r in documents.outcomes(docs, [other])}[other].problems
    assert problem.startswith("docs/other.md: no renderer for the block 'no-such-block' (known: cli, kinds,")


def test_a_block_that_cannot_be_rendered_is_said_in_one_line(docs, capsys):
    (docs / "docs/refused-defaults.yaml").write_text("- {what: a, allow: b}\n")
    assert main(["check", "--root", str(docs)]) == 1
    out = capsys.readouterr().out
    assert "README.md: the refused-defaults block cannot be rendered: 1 validation error" in out
    assert "either `message`" in out
