"""A node refuses to start on a disk its kubelet would soon evict Pods for (devtools.cluster.node)."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from devtools.cluster import node

Usage = namedtuple("Usage", "total used free")


def test_enough_room_is_no_problem(tmp_path: Path) -> None:
    if shutil.disk_usage(tmp_path).free >= node.DISK_HEADROOM_BYTES:
        assert node.disk_headroom_problem(tmp_path / "n") is None


def test_too_little_room_says_how_much_and_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node.shutil, "disk_usage", lambda path: Usage(252 << 30, 248 << 30, int(3.8 * (1 << 30))))
    problem = node.disk_headroom_problem(tmp_path / "n")
    assert problem is not None
    assert problem.startswith(f"3.8 GiB available on the filesystem of {tmp_path / 'n'}; a node needs 6 GiB")
    assert "/tmp/pytest-of-*" in problem
