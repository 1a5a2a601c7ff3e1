"""Which overlays are on (docs/design/overlays.md, "Switching live"): the OverlaySwitch the operator
POSTs to the ingest, kept in `<overlayDir>/switch.json` (written atomically) where the renderer
reads it. Without the file every overlay is off: a disabled overlay never shows at a Pod's start."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from streamops.contract.overlay import SWITCH_FILE, OverlaySwitch
from streamops.media.overlay.png import write_atomically

log = logging.getLogger("streamops.overlay")


def read_switch(directory: Path) -> OverlaySwitch | None:
    """switch.json, or None when there is none (or it cannot be read: then nothing is on either)."""
    try:
        data = (directory / SWITCH_FILE).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("cannot read %s: %s", SWITCH_FILE, e)
        return None
    try:
        return OverlaySwitch.model_validate_json(data)
    except ValidationError as e:
        log.warning("%s is not an OverlaySwitch, every overlay off: %s", SWITCH_FILE, e)
        return None


def write_switch(directory: Path, switch: OverlaySwitch) -> None:
    directory.mkdir(parents=True, exist_ok=True)  # before the first session's placeholders, maybe
    write_atomically(directory / SWITCH_FILE, switch.to_json().encode())


def switch_problem(switch: OverlaySwitch, names: Sequence[str]) -> str | None:
    """Why `switch` cannot apply to overlays `names` (an unknown or repeated name), None when it can."""
    unknown = [n for n in switch.enabled if n not in names]
    if unknown:
        return f"no such overlay: {', '.join(unknown)} (this ingest has {', '.join(names)})"
    if len(set(switch.enabled)) != len(switch.enabled):
        return "an overlay is named twice"
    return None


def switched_on(switch: OverlaySwitch | None, names: Sequence[str]) -> frozenset[str]:
    """The overlays of `names` that are on: those the switch names; none without a switch."""
    return frozenset(n for n in names if switch is not None and n in switch.enabled)


class SwitchWatch:
    """The renderer's view of switch.json: `poll()` stats it (cheap, every capture tick) and reads it
    again only when it was replaced (each write is a rename: a new inode) or removed."""

    def __init__(self, directory: Path, names: Sequence[str]) -> None:
        self.directory, self.names = directory, list(names)
        self._seen: tuple[int, int] | None = None
        self.on: frozenset[str] = frozenset()

    def poll(self) -> frozenset[str] | None:
        """The overlays now on when that changed since the last poll (the first poll always
        answers), else None."""
        identity: tuple[int, int] | None = (0, 0)
        with contextlib.suppress(OSError):
            stat = os.stat(self.directory / SWITCH_FILE)
            identity = (stat.st_ino, stat.st_mtime_ns)
        if identity == self._seen:
            return None
        self._seen = identity
        self.on = switched_on(read_switch(self.directory), self.names)
        return self.on
