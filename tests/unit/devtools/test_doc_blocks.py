"""The marked doc blocks tests run: found by name in any tracked Markdown file, exactly once; the
values a documented `helm` command sets, read as Helm reads them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from devtools.doc_blocks import documented_block, helm_set_values, markdown_files
from devtools.versions import REPO


def repo_with(tmp_path: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    return tmp_path


BLOCK = "<!-- demo:begin -->\n```sh\necho one\necho two\n```\n<!-- demo:end -->\n"


def test_a_block_is_found_in_whichever_tracked_page_holds_it(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, {"README.md": "# x\n", "docs/guide.md": f"text\n{BLOCK}", ".gitignore": "build/\n"})
    assert documented_block("demo", repo) == ["echo one", "echo two"]
    (repo / "build").mkdir()
    (repo / "build/copy.md").write_text(BLOCK)  # ignored by git: not documentation
    assert documented_block("demo", repo) == ["echo one", "echo two"]


def test_a_missing_or_doubled_block_is_an_error(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, {"README.md": BLOCK, "CONTRIBUTING.md": BLOCK})
    with pytest.raises(LookupError, match=r"README\.md"):
        documented_block("demo", repo)
    with pytest.raises(LookupError):
        documented_block("other", repo)


def test_helm_set_values() -> None:
    command = """helm upgrade --install r charts/r --reuse-values \\
  --set a.b.enabled=true --set a.n=3 --set a.s=prometheus \\
  --set-json 'p.peers=[{"x":{"y":"z"}}]'   # a comment
"""
    assert helm_set_values(command) == {
        "a": {"b": {"enabled": True}, "n": 3, "s": "prometheus"},
        "p": {"peers": [{"x": {"y": "z"}}]},
    }


def test_markdown_files_are_the_tracked_ones_in_a_checkout():
    found = markdown_files(REPO)
    assert REPO / "README.md" in found and REPO / "docs/design/README.md" in found
    assert not [p for p in found if ".venv" in p.parts or "node_modules" in p.parts]
