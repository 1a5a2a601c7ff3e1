"""Every relative link in the repository's Markdown resolves: a file or directory that exists, and
for `page.md#anchor` a heading of that page whose GitHub anchor is `anchor` (issue 54: the README
and the guide link dozens of design notes, examples and results, and moved sections leave dead ones)."""

from __future__ import annotations

import re
from pathlib import Path

from devtools.doc_blocks import markdown_files
from devtools.versions import REPO

# [text](target) and ![alt](target), not inside inline code; the target ends at the first space or ).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"```.*?```", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(FENCE.sub("", page.read_text()))}


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(CODE.sub("", page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http(s):, mailto: …: not ours to check offline
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        missing_anchor = bool(fragment) and resolved.suffix == ".md" and fragment not in anchors(resolved)
        if not resolved.exists() or missing_anchor:
            broken.append(target)
    return broken


def test_the_anchor_of_a_heading_is_githubs() -> None:
    assert anchor("The demo: reruns, Ctrl-C, `demo-down`") == "the-demo-reruns-ctrl-c-demo-down"
    assert anchor("API (group `streaming.streamops.dev`, version `v1alpha1`)") == (
        "api-group-streamingstreamopsdev-version-v1alpha1"
    )


def test_a_missing_file_or_heading_is_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-code-heading) [gone](gone.md) [no heading](other.md#nope) [web](https://example.com/x)\n"
        "`[in code](gone.md)` ![picture](other.md)\n"
    )
    assert broken_links(page) == ["gone.md", "other.md#nope"]


def test_every_relative_link_in_the_markdown_resolves() -> None:
    broken = {str(p.relative_to(REPO)): links for p in markdown_files() if (links := broken_links(p))}
    assert not broken, broken
