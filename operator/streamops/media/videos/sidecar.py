"""A video's JSON sidecar: beside the MP4 on the claim (the video as /status shows it), and in the
bucket (`sidecar()`: for whoever finds the video there). Both carry the stream's clientUserId /
clientEntityData when set (client_fields())."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from streamops.api.common import ClientFields, client_fields
from streamops.api.recording import Video
from streamops.contract.worker import iso
from streamops.media.atomic_file import write_atomically
from streamops.storage.vod_page import render_vod_page


def write_sidecar(video_file: Path, video: Video, client: ClientFields | None) -> None:
    """`<name>.json` next to `video_file`: the video as /status shows it, and the client fields."""
    doc = {**video.model_dump(mode="json", by_alias=True), **client_fields(client)}
    write_atomically(video_file.with_suffix(".json"), json.dumps(doc, indent=2) + "\n")


def write_vod_page(video_file: Path, title: str) -> None:
    """`<name>.html` next to `video_file` on a claim: the VOD page a bucket gets as an object (the
    edge serves both to signed links, docs/design/claim-videos.md)."""
    write_atomically(video_file.with_suffix(".html"), render_vod_page(title))


def sidecar(
    *,
    title: str,
    stream: str,
    recording: str,
    url: str,
    started_at: datetime,
    ended_at: datetime,
    duration_seconds: float,
    size_bytes: int,
    codecs: dict[str, Any],
    client: ClientFields | None = None,
    origin_url: str | None = None,
) -> dict[str, Any]:
    """The JSON object stored next to a video in the bucket (`originUrl`: the video's original, keepOrigin)."""
    return {
        "title": title,
        "stream": stream,
        "recording": recording,
        "url": url,
        "startedAt": iso(started_at),
        "endedAt": iso(ended_at),
        "durationSeconds": duration_seconds,
        "sizeBytes": size_bytes,
        "codecs": codecs,
        **({"originUrl": origin_url} if origin_url else {}),
        **client_fields(client),
    }
