"""`make demo` starts from a clean slate and `make demo-down` removes what any run left
(devtools.demo): with the real S3 server and real processes the demo records, no cluster (its own
teardown is the multinode tier's to prove)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from devtools.demo import DEMO_PIDS, DemoState, start_s3, tear_down
from devtools.media.s3_server import S3Server
from devtools.processes import alive, start_ticks
from devtools.versions import REPO

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stand-ins for the demo's long-lived peers (each in a session of its own, as they are); any
    the test leaves are killed by PID."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def sleeper(started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    started.append(proc)
    return proc


def demo_down(dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--dir", str(dir), "--down"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def test_the_s3_data_of_a_failed_run_does_not_break_the_next(tmp_path: Path) -> None:
    """What happened to a user: a run that failed left demo-s3/ with its bucket, and the next run's
    create_bucket answered BucketAlreadyExists."""
    state = DemoState(tmp_path)
    first = start_s3(tmp_path, state)
    first.client().put_object(Bucket="recordings", Key="old-video.mp4", Body=b"x")
    first.stop()  # the run ends without cleaning up: the data stays
    assert (tmp_path / "demo-s3" / "data" / "recordings").is_dir()

    # The old demo's way, on what was left: refused.
    naive = S3Server(tmp_path / "demo-s3").start()
    try:
        with pytest.raises(ClientError, match="BucketAlready"):
            naive.create_bucket("recordings")
    finally:
        naive.stop()

    again = start_s3(tmp_path, state)
    try:
        assert again.objects("recordings") == {}, "a fresh bucket: nothing of the failed run in it"
    finally:
        again.stop()


def test_demo_down_removes_what_a_killed_run_left(tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    """A run that died without its cleanup (SIGKILL, a closed terminal): its S3 server, an encoder,
    their pid file and files. `--down` stops them by PID and removes the files; a second `--down`,
    and one with nothing there, are fine."""
    state = DemoState(tmp_path)
    s3 = start_s3(tmp_path, state)
    encoder = sleeper(sleepers)
    state.record("publisher", encoder.pid)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "demo-publisher.log").write_text("Connection refused\n")
    (tmp_path / "demo-video.mp4").write_bytes(b"old")
    socket_dir = s3.socket_path.parent
    s3_pid = s3.pid
    assert s3_pid is not None and socket_dir.is_dir()
    recorded = {p["name"] for p in json.loads((tmp_path / DEMO_PIDS).read_text())["procs"]}
    assert recorded == {"s3", "publisher"}, "each process is recorded as it starts"

    done = demo_down(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing of it is left" in done.stdout
    encoder.wait(5)
    assert not alive(s3_pid)
    for gone in ("demo-s3", "demo-video.mp4", "logs/demo-publisher.log", DEMO_PIDS):
        assert not (tmp_path / gone).exists(), gone
    assert not socket_dir.exists(), "the S3 server's socket directory (outside DIR) too"
    s3.stop()  # (reaps our child; nothing left to stop)

    for _ in range(2):
        again = demo_down(tmp_path)
        assert again.returncode == 0 and "nothing of it is left" in again.stdout, again.stdout + again.stderr
    nothing = demo_down(tmp_path / "never-used")
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr


def test_a_recycled_pid_is_not_taken_for_the_demos(tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    """The pid file names each process with its start time: a PID now used by another process (here:
    the right PID with another start time) is left alone."""
    bystander = sleeper(sleepers)
    ticks = start_ticks(bystander.pid)
    assert ticks is not None
    (tmp_path / DEMO_PIDS).write_text(
        json.dumps({"procs": [{"name": "nginx", "pid": bystander.pid, "start_ticks": ticks - 1}], "paths": []})
    )
    assert tear_down(tmp_path) == []
    assert bystander.poll() is None, "not the demo's: still running"
    assert not (tmp_path / DEMO_PIDS).exists()


def test_an_older_demos_bare_pids_are_not_killed_blindly(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    """Before start times were recorded the pid file was a bare list: those PIDs may be anyone's by
    now, so they are named, not killed, and the file is dropped."""
    bystander = sleeper(sleepers)
    (tmp_path / DEMO_PIDS).write_text(json.dumps([bystander.pid]))
    assert tear_down(tmp_path) == []
    assert bystander.poll() is None
    assert not (tmp_path / DEMO_PIDS).exists()
