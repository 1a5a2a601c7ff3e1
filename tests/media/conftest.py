"""Media tier: the real workers as local processes with real FFmpeg on 127.0.0.1, fed by a
synthetic publisher, with real peers (devtools.peers). Every process is stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.workers import Ingest, Worker


@pytest.fixture
def ingest_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def make(name: str = "ingest", **overrides: Any) -> Ingest:
        workdir = tmp_path / name
        workdir.mkdir()
        worker = Ingest(workdir, **overrides)
        started.append(worker)
        return worker.start()

    yield make
    for worker in started:
        worker.stop()


@pytest.fixture
def ingest(ingest_factory: Any) -> Ingest:
    return ingest_factory()
