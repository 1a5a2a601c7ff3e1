"""hack/hooks/commit-msg (make hooks) holds commit messages to CONTRIBUTING.md's rule."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from devtools.versions import REPO

HOOK = REPO / "hack" / "hooks" / "commit-msg"


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ("Move the ingest into a package\n\nWhy, and what was measured.\n", True),
        ("Fix the pusher's live flag\n", True),
        ("x" * 72 + "\n", True),
        ("x" * 73 + "\n", False),
        ("Fix the pusher\nno blank line before the body\n", False),
        ("# only a comment\n\n", False),
        ("# git's comment first\nFix the pusher\n\nbody\n", True),
    ],
)
def test_the_hook_takes_a_short_subject_and_a_separate_body(tmp_path: Path, message: str, accepted: bool) -> None:
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(message)
    result = subprocess.run(["bash", str(HOOK), str(path)], capture_output=True, text=True, check=False)
    assert (result.returncode == 0) == accepted, result.stderr
