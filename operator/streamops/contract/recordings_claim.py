"""The recordings claim as the workers that write or delete in it name it: where it is mounted, how a
Recording's directory inside it is written, how an original is named. Without pydantic or the
recorder's models, so the origin expiry imports none of them (docs/design/lean-workers.md);
contract.recorder re-exports these names."""

from __future__ import annotations

from pathlib import PurePosixPath

RECORDINGS_ROOT = "/recordings"  # where the recordings claim is mounted in the recorder
# keepOrigin: `record-….mp4`'s original is `record-…-origin.mp4` beside it (the recorder names it,
# the origin expiry worker deletes nothing else).
ORIGIN_SUFFIX = "-origin"


def relative_directory(directory: str) -> str:
    """A directory inside the recordings root: relative, no `..`, not empty."""
    path = PurePosixPath(directory)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError("directory must be a directory inside the recordings root (relative, no '..')")
    return str(path)
