"""The ffprobe of a finished file: its duration and the codecs a sidecar names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamops.media.ffmpeg import probe_file


async def probe_duration(path: Path) -> float | None:
    """The container duration ffprobe reports, None when the file is not readable media."""
    out = await probe_file(path, "-show_entries", "format=duration", "-of", "default=nw=1:nk=1")
    try:
        return float(out.strip())
    except ValueError:
        return None


def codecs_of(streams: list[dict[str, Any]]) -> dict[str, Any]:
    """The first video and audio stream of an ffprobe -show_streams answer, as a sidecar says them."""
    codecs: dict[str, Any] = {}
    for s in streams:
        kind = s.get("codec_type")
        if kind == "video" and "video" not in codecs:
            codecs["video"] = {
                "codec": s.get("codec_name"),
                "profile": s.get("profile"),
                "width": s.get("width"),
                "height": s.get("height"),
            }
        elif kind == "audio" and "audio" not in codecs:
            codecs["audio"] = {"codec": s.get("codec_name"), "sampleRate": int(s.get("sample_rate") or 0) or None}
    return codecs


async def probe_codecs(path: Path) -> dict[str, Any]:
    """Video codec, profile and size, audio codec, of a media file ({} when it is not readable)."""
    out = await probe_file(
        path, "-show_entries", "stream=codec_type,codec_name,profile,width,height,sample_rate", "-of", "json"
    )
    try:
        streams = json.loads(out).get("streams", [])
    except ValueError:
        return {}
    return codecs_of(streams if isinstance(streams, list) else [])
