"""What bench/playback.py's rows and bench/playback_cluster.py's row both drive, on either side of the
ingest: the stream going in (ClipPublisher, a clip encoded once and looped) and the viewers coming
out (hlsload, components/hlsload). A module of its own so that the cluster row does not import the
script that runs it (no import cycle in bench/)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

from devtools.media.peers import Publisher
from devtools.netns import nsenter
from devtools.processes import stop_tree
from devtools.versions import hlsload_bin

MIB = 1024 * 1024
T = TypeVar("T")


class ClipPublisher(Publisher):
    """The synthetic publisher's picture and sound, encoded once (Publisher's settings) and sent in a
    loop in real time with -c copy: the same stream at ≈1 % of a core instead of a live x264 encode
    (≈40 % of one here), which would compete with the ingest and the viewers on these 2 cores; a
    real publisher encodes on another machine."""

    def __init__(self, url: str, clip: Path, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.clip = clip

    def encode(self, seconds: int = 20) -> Self:
        """Write the clip (whole GOPs: `seconds` a multiple of the GOP) unless it is there."""
        if not self.clip.exists():
            live = Publisher(str(self.clip), duration=seconds, size=self.size, rate=self.rate,
                             video_bitrate=self.video_bitrate, fmt="flv", live=True).command()  # fmt: skip
            argv = [a for a in live if a != "-re"]
            subprocess.run(argv, check=True, capture_output=True, timeout=300)
        return self

    def command(self) -> list[str]:
        return ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-re", "-stream_loop", "-1",
                "-i", str(self.clip), "-c", "copy", "-f", "flv", self.url]  # fmt: skip


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
