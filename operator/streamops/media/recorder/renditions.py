"""The renditions of a transcoded recording (pure): the recorder records the ingest's transcoded
feed, which is the ladder's tallest rendition, and derives every other rendition from each
finalised video with the ladder's own x264 settings (media/rendition_encode.py, as the ingest),
one FFmpeg run decoding the video once for all of them. docs/design/recording-export.md says why
this rather than recording each rendition's live feed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ffmpeg as ffmpeg_python

from streamops.api.livestream_media import Rendition
from streamops.media.ffmpeg import command
from streamops.media.rendition_encode import rendition_encode


def rendition_file(video_file: str, rendition: str) -> str:
    """`record-….mp4` → `record-….<rendition>.mp4`: next to the video, its sidecar `….<rendition>.json`."""
    stem = video_file[: -len(".mp4")] if video_file.endswith(".mp4") else video_file
    return f"{stem}.{rendition}.mp4"


def derived(ladder: Sequence[Rendition]) -> list[Rendition]:
    """The renditions to derive: all but the tallest (the recorded feed itself)."""
    return list(ladder[1:])


def derive_command(src: str, outputs: Sequence[tuple[Rendition, str]], segment_seconds: float) -> list[str]:
    """One FFmpeg run: `src` (the tallest rendition's finalised MP4) decoded once, scaled to each
    rendition's height (width from the aspect ratio, even) and encoded as the live ladder encodes
    it, each into a faststart MP4."""
    source = ffmpeg_python.input(src, protocol_whitelist="file")
    split = source.video.filter_multi_output("split", len(outputs))
    streams = []
    for i, (r, path) in enumerate(outputs):
        scaled = split[i].filter("scale", -2, r.height)
        options = {**rendition_encode(r, segment_seconds), "movflags": "+faststart", "f": "mp4"}
        streams.append(ffmpeg_python.output(scaled, source["a?"], path, **options))
    return command(ffmpeg_python.merge_outputs(*streams), progress=False, loglevel="warning")


def hidden(path: Path) -> Path:
    """Where a rendition is written until complete (a crash never leaves a half file under its name)."""
    return path.with_name(f".{path.name}.deriving.mp4")
