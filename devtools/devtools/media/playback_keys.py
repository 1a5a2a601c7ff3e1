"""A namespace's playback keys as an ingest or an edge sees them mounted (docs/design/playback.md,
"Signing keys"): the files `current` and `previous` in a directory, replaced the way the kubelet
updates a mounted Secret (a new file renamed over the old, never edited in place)."""

from __future__ import annotations

from pathlib import Path

from streamops.contract.playback_token import CURRENT_KEY, PREVIOUS_KEY


def write_playback_keys(directory: Path, current: bytes, previous: bytes | None = None) -> Path:
    """`directory` (created) with `current` and, unless None, `previous` (else no such file)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, key in ((CURRENT_KEY, current), (PREVIOUS_KEY, previous)):
        path = directory / name
        if key is None:
            path.unlink(missing_ok=True)
        else:
            tmp = directory / f".{name}.tmp"
            tmp.write_bytes(key)
            tmp.replace(path)
    return directory
