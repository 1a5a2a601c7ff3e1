"""What bench/playback.py's rows and bench/playback_cluster.py's row both drive: the viewers coming out
of the ingest (hlsload, components/hlsload); the stream going in is devtools.media.peers.Publisher (a
clip encoded once and looped). A module of its own so that the cluster row does not import the script
that runs it (no import cycle in bench/)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from devtools.netns import nsenter
from devtools.processes import stop_tree
from devtools.versions import hlsload_bin

MIB = 1024 * 1024
T = TypeVar("T")


def hlsload(
    url: str,
    mode: str,
    viewers: int,
    ramp: float,
    seconds: float,
    run: str,
    measure: Callable[[], T],
    netns: str | None = None,
) -> tuple[dict[str, Any], T]:
    """hlsload's JSON for `viewers` of `url` joining over `ramp` and playing `seconds`, and what
    `measure` read over the steady part of that window (it starts once everyone joined); run in
    the network namespace `netns` when given (a cluster's LAN)."""
    argv = [str(hlsload_bin()), "-url", url, "-mode", mode, "-viewers", str(viewers), "-ramp", f"{ramp}s",
            "-duration", f"{seconds}s", "-run", run, "-gap-threshold", "2s"]  # fmt: skip
    argv = nsenter(netns, argv) if netns else argv
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(ramp + 1)
        measured = measure()
        out, err = client.communicate(timeout=seconds + 60)
    finally:
        stop_tree(client)  # a no-op once it exited
    if client.returncode != 0:
        raise RuntimeError(f"hlsload exited {client.returncode}: {err.decode(errors='replace')[-2000:]}")
    return json.loads(out), measured
