"""devtools.media.clock_generator: the process an OBS-like encoder starts again at every reconnect
imports the standard library only (its imports are paid while the viewer waits: handover.md, Part 4)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("asyncio", "ssl", "devtools.media.peers", "devtools.processes", "devtools.waits")


def test_the_generator_process_imports_no_harness() -> None:
    probe = "import sys, devtools.media.clock_generator; print(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                timeout=60).stdout.split())  # fmt: skip
    assert "devtools.media.clock_generator" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    harness = sorted(m for m in loaded if m.startswith("devtools.") and m != "devtools.media.clock_generator")
    assert harness == ["devtools.media", "devtools.media.push_urls"], harness
