"""The clipper worker (`streamops worker clip`) as a local process, for the media and browser tiers
and the clip bench: one clip of an ingest's DVR playlist into `<workdir>/recordings/<ns>/<name>/`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from devtools.http_client import http_get
from devtools.media.peers import ffprobe_json
from devtools.media.workers import Worker
from devtools.ports import free_port
from devtools.waits import wait_for


class ClipperWorker(Worker):
    def __init__(
        self,
        workdir: Path,
        name: str,
        playlist: str,
        start: datetime,
        end: datetime,
        mode: str = "keyframe",
        upload: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        **config_extra: Any,
    ) -> None:
        """`upload`: the config's UploadTarget (camelCase), with the keys in `env` as a Pod gets them;
        `config_extra`: more of the configuration (camelCase), e.g. client."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.root = workdir / "recordings"
        self.root.mkdir(exist_ok=True)
        port = free_port("tcp")
        config: dict[str, Any] = {
            "stream": "cam",
            "clip": name,
            "playlistUrl": playlist,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "mode": mode,
            "title": f"Clip: cam, {start:%Y-%m-%d %H:%M:%S} UTC",
            "recordingsRoot": str(self.root),
            "directory": f"ns/{name}",
            "httpHost": "127.0.0.1",
            "httpPort": port,
        }
        if upload is not None:
            config["upload"] = upload
        config.update(config_extra)
        super().__init__("clip", config, workdir, port, env=env)

    def finished(self, timeout: float = 60) -> dict[str, Any]:
        """Its /status once it succeeded or failed."""

        def done() -> dict[str, Any] | None:
            status = self.status()
            return status if status["state"] in ("succeeded", "failed") else None

        return wait_for(done, timeout=timeout)

    def video_file(self, status: dict[str, Any]) -> Path:
        return self.root / status["video"]["path"]


def dvr_seconds(playlist_url: str) -> float:
    """Seconds of media an HLS media playlist lists (0 while it cannot be read)."""
    code, body = http_get(playlist_url)
    lines = body.decode(errors="replace").splitlines() if code == 200 else []
    return sum(float(line.split(":")[1].split(",")[0]) for line in lines if line.startswith("#EXTINF:"))


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's format and streams of a media file."""
    return ffprobe_json(["-show_format", "-show_streams"], path)
