"""The ingest's side of the renderer's files: the placeholder PNGs FFmpeg opens before the renderer
wrote anything, and the renderer's status.json read back as `IngestStatus.overlays`."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from streamops.contract.ingest import IngestConfig
from streamops.contract.overlay import STATUS_FILE, OverlayRendererStatus, OverlayReport, png_name
from streamops.media.overlay.png import transparent_png, write_atomically

# The renderer rewrites status.json every 5 s: older than this, it is not running.
STALE_SECONDS = 30.0


def write_placeholders(config: IngestConfig) -> None:
    """A transparent PNG for every overlay the renderer has not written yet: FFmpeg's image2 input
    fails to open a missing file, and the session would not start."""
    if not config.overlays or not config.overlay_dir:
        return
    directory = Path(config.overlay_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for overlay in config.overlays:
        path = directory / png_name(overlay.name)
        if not path.exists():
            write_atomically(path, transparent_png(2, 2))


def overlay_reports(config: IngestConfig, now: datetime, started: datetime) -> list[OverlayReport] | None:
    """What the renderer last said about each overlay (one switched off: "disabled"). A status.json older than
    STALE_SECONDS, or none STALE_SECONDS after the ingest `started`, makes them all failing (the
    renderer is not running: the stream goes on without them); before that, none is listed yet."""
    if not config.overlays or not config.overlay_dir:
        return None
    status: OverlayRendererStatus | None = None
    with contextlib.suppress(OSError, ValidationError, ValueError):
        status = OverlayRendererStatus.model_validate_json((Path(config.overlay_dir) / STATUS_FILE).read_bytes())
    since = status.written_at if status is not None and status.written_at is not None else None
    if (now - (since or started)).total_seconds() <= STALE_SECONDS:
        by_name = {r.name: r for r in status.overlays} if status is not None else {}
        return [by_name[o.name] for o in config.overlays if o.name in by_name]
    message = f"the renderer has not reported since {since:%Y-%m-%dT%H:%M:%SZ}" if since else "no renderer reports"
    return [OverlayReport(name=o.name, state="failing", message=message) for o in config.overlays]
