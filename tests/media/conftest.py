"""Media tier: the real workers as local processes with real FFmpeg on 127.0.0.1, fed by a
synthetic publisher, with real peers (devtools.media.peers). Every process is stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.workers import WORKER_AUTH, Ingest, Worker
from devtools.ports import free_port
from devtools.processes import alive, command_line, environment, proc_tree
from devtools.waits import wait_for

# ingest_factory (an ingest worker per call, stopped after the test) is tests/conftest.py's: the
# browser tier plays from ingests too.


@pytest.fixture
def ingest(ingest_factory: Any) -> Ingest:
    return ingest_factory()


# --- the pusher worker ----------------------------------------------------------------------------------------


class PushWorker(Worker):
    """`streamops worker push` with its key in a file; stop() also kills, by PID, any FFmpeg it left
    (they run in sessions of their own, out of reach of the worker's process group)."""

    def __init__(self, workdir: Path, feed_url: str, uri: str, key: str | None, **extra: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config: dict[str, Any] = {
            "name": workdir.name,
            "stream": "cam",
            "feedUrl": feed_url,
            "uri": uri,
            "noAudioMode": "drop",
            "httpHost": "127.0.0.1",
            "httpPort": port,
            **extra,
        }
        if key is not None:
            key_file = workdir / "stream-key"
            key_file.write_text(key + "\n")
            config["streamKeyFile"] = str(key_file)
        super().__init__("push", config, workdir, port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        tree = proc_tree(self.process.pid) if self.process and self.process.poll() is None else []
        try:
            return super().stop(sig, timeout)
        finally:
            for pid in tree[1:]:
                if alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    def wait_live(self, timeout: float = 20) -> dict[str, Any]:
        return wait_for(lambda: (s := self.status())["live"] and s, timeout=timeout, what=f"{self.workdir.name} live")

    def texts(self) -> str:
        """Everything the pusher tells the outside world: its logs, /status, /metrics, and the
        command lines and environments of its processes (the worker's and FFmpeg's)."""
        assert self.process is not None
        exposed = "".join(command_line(pid) + environment(pid) for pid in proc_tree(self.process.pid))
        return self.logs() + json.dumps(self.status()) + http_get(self.control + "/metrics")[1].decode() + exposed

    def ffmpeg_command_line(self) -> str:
        """The command line of the pusher's running FFmpeg, as any process on the host reads it."""
        assert self.process is not None
        children = proc_tree(self.process.pid)[1:]
        assert children, "FFmpeg runs"
        return command_line(children[0])


@pytest.fixture
def pushers(tmp_path: Path) -> Iterator[Callable[..., PushWorker]]:
    """Start pusher workers (name, feed URL, target URI, key, config overrides); all stopped by PID."""
    started: list[PushWorker] = []

    def make(name: str, feed_url: str, uri: str, key: str | None = None, **extra: Any) -> PushWorker:
        worker = PushWorker(tmp_path / name, feed_url, uri, key, **extra)
        started.append(worker)
        return worker.start()

    yield make
    for worker in reversed(started):
        worker.stop()


# --- the recorder worker ------------------------------------------------------------------------------------


class RecordWorker(Worker):
    """`streamops worker record` on a feed, its videos under `root/videos`."""

    def __init__(self, workdir: Path, feed_url: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.root = workdir / "recordings"
        config = {
            "feedUrl": feed_url,
            "recordingsRoot": str(self.root),
            "directory": "videos",
            "title": "Camera",
            "reconnectWindowSeconds": 5,
            "maxSegmentSeconds": 3600,
            "minDurationSeconds": 1,
            "httpHost": "127.0.0.1",
            "httpPort": port,
        }
        super().__init__("record", config, workdir, port)

    def post_stop(self) -> dict[str, Any]:
        request = urllib.request.Request(self.http + "/stop", method="POST", headers=WORKER_AUTH)
        with urllib.request.urlopen(request, timeout=60) as r:
            return dict(json.loads(r.read()))


@pytest.fixture
def record_workers(tmp_path: Path) -> Iterator[Callable[[str, str], RecordWorker]]:
    """Start recorder workers (name, feed URL), their videos under <tmp>/<name>/recordings/videos;
    all stopped by PID."""
    started: list[RecordWorker] = []

    def make(name: str, feed_url: str) -> RecordWorker:
        worker = RecordWorker(tmp_path / name, feed_url)
        started.append(worker)
        return worker.start()

    yield make
    for worker in reversed(started):
        worker.stop()
