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
from devtools.waits import eventually

pytestmark = pytest.mark.timeout(120)


def kill_groups_left(started: list[subprocess.Popen[bytes]] | list[subprocess.Popen[str]]) -> None:
    """What a test leaves running is killed with its group (each runs in a session of its own), by PID."""
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stand-ins for the demo's long-lived peers (each in a session of its own, as they are); any
    the test leaves are killed by PID."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    kill_groups_left(started)


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


# A demo driver whose flow, after the real clean slate, starts a long-lived peer in a session of its
# own (as every component and peer of the demo is) and then blocks in a command run in the driver's
# own process group, as kubectl and helm are: where a terminal's Ctrl-C reaches it too.
DRIVER = """
import subprocess, sys
from pathlib import Path
from devtools import demo

def flow(run):
    peer = subprocess.Popen(["sleep", "300"], start_new_session=True)
    run.state.record("peer", peer.pid)
    (run.dir / "peer.pid").write_text(str(peer.pid))
    subprocess.run(["sh", "-c", "echo $$ > kubectl.pid.tmp && mv kubectl.pid.tmp kubectl.pid && exec sleep 300"],
                   cwd=run.dir, check=True)

sys.exit(demo.run(Path(sys.argv[1]), keep=False, flow=flow))
"""


def start_driver(dir: Path) -> subprocess.Popen[str]:
    """The driver in a process group of its own (a terminal's foreground job), blocked in its
    "kubectl" once this returns."""
    dir.mkdir(exist_ok=True)
    for marker in ("peer.pid", "kubectl.pid"):
        (dir / marker).unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(dir)], cwd=REPO, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    eventually(lambda: (dir / "kubectl.pid").exists() or proc.poll() is not None, 30, what="the driver blocked")
    assert proc.poll() is None, proc.communicate()
    return proc


@pytest.fixture
def drivers() -> Iterator[list[subprocess.Popen[str]]]:
    """Drivers a failed test leaves: killed by group (theirs), never by name."""
    started: list[subprocess.Popen[str]] = []
    yield started
    kill_groups_left(started)


def pid_in(path: Path) -> int:
    return int(path.read_text().strip())


@pytest.mark.parametrize("where", ["group", "child"])
def test_ctrl_c_stops_what_it_started_with_one_line_and_status_130(
    tmp_path: Path, drivers: list[subprocess.Popen[str]], where: str
) -> None:
    """What a user got: a traceback from `kubectl patch` and a failed make. Ctrl-C as a terminal sends
    it (to the whole foreground group: the driver and its kubectl), or reaching only the command
    (it fails before the driver hears of it): one line, 130, the peer stopped by PID."""
    driver = start_driver(tmp_path)
    drivers.append(driver)
    peer, kubectl = pid_in(tmp_path / "peer.pid"), pid_in(tmp_path / "kubectl.pid")
    if where == "group":
        os.killpg(driver.pid, signal.SIGINT)
    else:
        os.kill(kubectl, signal.SIGINT)
    out, err = driver.communicate(timeout=30)
    assert driver.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert err.splitlines() == [
        "demo: interrupted (SIGINT); stopped what it started (make demo-down removes anything left)"
    ], err
    assert not alive(peer) and not alive(kubectl)
    assert not (tmp_path / DEMO_PIDS).exists(), "what it started is stopped and forgotten"


def test_a_second_demo_refuses_while_one_runs_and_demo_down_stops_it(
    tmp_path: Path, drivers: list[subprocess.Popen[str]]
) -> None:
    """What a user got: a second `make demo` beside a running one cleared the slate under it (its
    etcd data removed) and both failed. The second now refuses and touches nothing; `make demo-down`
    stops the running one (SIGTERM, handled as Ctrl-C) before removing what is left."""
    first = start_driver(tmp_path)
    drivers.append(first)
    peer = pid_in(tmp_path / "peer.pid")
    recorded = (tmp_path / DEMO_PIDS).read_text()

    second = subprocess.run(
        [sys.executable, "-c", DRIVER, str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert second.returncode == 1, second.stdout + second.stderr
    assert second.stderr == (
        f"another make demo is running in {tmp_path} (pid {first.pid}); wait for it or run make demo-down\n"
    )
    assert "clean slate" not in second.stdout
    assert first.poll() is None and alive(peer), "the running demo is left alone"
    assert (tmp_path / DEMO_PIDS).read_text() == recorded

    down = demo_down(tmp_path)
    assert down.returncode == 0, down.stdout + down.stderr
    assert f"a make demo is running in {tmp_path} (pid {first.pid}): stopping it first" in down.stdout
    assert "nothing of it is left" in down.stdout
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, out + err
    assert err.startswith("demo: interrupted (SIGTERM)") and "Traceback" not in out + err
    assert not alive(peer)
