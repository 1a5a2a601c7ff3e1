"""The origin expiry worker (`streamops worker expire`, media/expiry/process.py) on a temporary
directory standing for the claim: it deletes the originals it is given (one already gone counts as
gone), marks them in their videos' sidecars, leaves everything else, and exits 1 when one could not
be deleted; its configuration (contract/expiry.py) names nothing but originals inside the root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from streamops.contract.expiry import ExpiredOrigin, ExpiryConfig
from streamops.media.expiry.process import expire

AT = "2026-11-30T10:00:10Z"


def claim_with_a_video(root: Path, n: int) -> tuple[Path, Path, Path]:
    folder = root / "media/rec-r"
    folder.mkdir(parents=True, exist_ok=True)
    video, origin, sidecar = (folder / f"record-{n}{suffix}" for suffix in (".mp4", "-origin.mp4", ".json"))
    video.write_bytes(b"v")
    origin.write_bytes(b"o")
    sidecar.write_text(json.dumps({"path": f"media/rec-r/record-{n}.mp4", "origin": {"path": "x", "expiredAt": None}}))
    return video, origin, sidecar


def origin(n: int) -> ExpiredOrigin:
    return ExpiredOrigin(
        path=f"media/rec-r/record-{n}-origin.mp4", sidecar=f"media/rec-r/record-{n}.json", expired_at=AT
    )


def test_the_originals_go_their_videos_stay_and_their_sidecars_say_so(tmp_path: Path) -> None:
    video, original, sidecar = claim_with_a_video(tmp_path, 1)
    config = ExpiryConfig(recordings_root=str(tmp_path), origins=[origin(1), origin(2)])  # record-2's is gone already
    assert expire(config) == 0
    assert video.exists() and not original.exists()
    assert json.loads(sidecar.read_text())["origin"]["expiredAt"] == AT


def test_an_original_that_cannot_be_deleted_fails_the_run(tmp_path: Path) -> None:
    _, original, _ = claim_with_a_video(tmp_path, 1)
    original.unlink()
    original.mkdir()  # (unlink of a directory fails, as a read-only claim would)
    (original / "x").write_bytes(b"")
    assert expire(ExpiryConfig(recordings_root=str(tmp_path), origins=[origin(1)])) == 1


@pytest.mark.parametrize(
    "path", ["media/rec-r/record-1.mp4", "media/rec-r/record-1.json", "../record-1-origin.mp4", "/x/a-origin.mp4"]
)
def test_nothing_but_an_original_inside_the_root_can_be_named(path: str) -> None:
    with pytest.raises(ValidationError):
        ExpiredOrigin(path=path, expired_at=AT)


def test_the_worker_runs_once_from_its_environment_and_exits(tmp_path: Path) -> None:
    _, original, _ = claim_with_a_video(tmp_path, 1)
    config = ExpiryConfig(recordings_root=str(tmp_path), origins=[origin(1)])
    env = {**os.environ, "STREAMOPS_EXPIRY_CONFIG": config.to_json()}
    done = subprocess.run(
        [sys.executable, "-m", "streamops", "worker", "expire"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert not original.exists() and b"deleted media/rec-r/record-1-origin.mp4" in done.stderr
    bad = {**os.environ, "STREAMOPS_EXPIRY_CONFIG": '{"origins": []}'}
    refused = subprocess.run(
        [sys.executable, "-m", "streamops", "worker", "expire"], env=bad, capture_output=True, timeout=60
    )
    assert refused.returncode == 2, "a configuration that cannot be used"
