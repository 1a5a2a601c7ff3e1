"""`kubectl streamops` against a real kube-apiserver, as a user runs it: `kubectl streamops …` (kubectl
finds the installed `kubectl-streamops` on PATH), the admin's kubeconfig, the real operator writing the
statuses, a real ingest worker (devtools.cluster.local_pods) fed by a publisher that pushes to the URL
`push-url --show-key` printed.

`play` goes through a real `kubectl port-forward`: the ingest Pod is bound to a Node whose kubelet
port-forward endpoint is devtools.cluster.port_forward_kubelet (this tier runs no kubelet), its
status.playback rewritten to the Service's cluster DNS name as a ClusterIP exposure has it (this
tier's operator reports host-network URLs), and ffplay replaced by a recorder of its argv that
fetches the URL it was given: the playlist must come through the port-forward.

Every command runs at least once as a process; their variants and refusals run the plugin's main()
in the test's process against the same API server (a process costs ≈1 s of CPU in imports).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from devtools.catalog import livestream, recording, restream
from devtools.cluster.local_pods import LocalPods
from devtools.cluster.port_forward_kubelet import PortForwardKubelet
from devtools.cluster.suite import Cluster, Operator
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.ports import tcp_accepts
from devtools.waits import eventually
from streamops.cli.kubectl_plugin import main

BIN = Path(sys.executable).parent  # kubectl-streamops and streamops, installed with the package
PLAYER = """#!{python}
# ffplay's stand-in: records its argv and what the URL it got serves.
import json, os, sys, urllib.request
body = urllib.request.urlopen(sys.argv[-1], timeout=10).read(4096).decode(errors="replace")
with open(os.environ["PLAYER_RECORD"], "w") as f:
    json.dump({{"argv": sys.argv, "body": body}}, f)
"""


@pytest.fixture(scope="module")
def kubelet(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortForwardKubelet]:
    with PortForwardKubelet(cluster, tmp_path_factory.mktemp("kubelet"), node="kubectl-plugin-node") as k:
        yield k


@pytest.fixture
def user_env(cluster: Cluster, tmp_path: Path) -> dict[str, str]:
    """A user's shell: kubectl and the plugin on PATH (a recording ffplay first), the admin kubeconfig."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    player = bin_dir / "ffplay"
    player.write_text(PLAYER.format(python=sys.executable))
    player.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), str(BIN), str(Path(cluster.binary).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "KUBECONFIG": str(cluster.kubeconfig), "PLAYER_RECORD": str(tmp_path / "p")}


def plugin(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`kubectl streamops ARGS` as typed in a shell."""
    return subprocess.run(["kubectl", "streamops", *args], env=env, capture_output=True, text=True, timeout=timeout)


def plugins(env: dict[str, str], *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands side by side (as in several shells): each is still a whole process."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: plugin(env, *args), commands))


@pytest.fixture
def here(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The plugin's main() in this process, against the same API server: the variants and refusals of
    commands that also run as processes below (each process costs ≈1 s of CPU for its imports)."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["kubectl", "streamops", *args], code, out, err)

    return run


def failed(result: subprocess.CompletedProcess[str], says: str) -> bool:
    """Non-zero, one line on stderr saying `says`, nothing on stdout."""
    lines = result.stderr.strip().splitlines()
    return result.returncode != 0 and len(lines) == 1 and says in lines[0] and not result.stdout


def secret_value(cluster: Cluster, ns: str, name: str, key: str) -> str:
    secret = cluster.get("secrets", ns, name)
    assert secret is not None
    return base64.b64decode(secret["data"][key]).decode()


def test_every_command_on_a_live_stream(
    cluster: Cluster,
    operator: Operator,
    namespace: str,
    local_pods: LocalPods,
    kubelet: PortForwardKubelet,
    user_env: dict[str, str],
    here: Callable[..., subprocess.CompletedProcess[str]],
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    ns, env = namespace, user_env
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, restream("yt", uri="rtmp://127.0.0.1:9/live2"))  # its pusher never runs here
    eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="ingest Pod")
    kubelet.bind(ns, "cam-ingest")
    ingest = local_pods.start(ns, "cam-ingest")
    stream = cluster.wait_status("livestreams", ns, "cam", lambda s: s["status"]["ingest"]["pushUrl"], "push URL")
    key = secret_value(cluster, ns, "cam-stream-key", "streamKey")

    # push-url: masked unless asked; with --show-key the URL a publisher goes live with.
    masked, shown = plugins(env, ("push-url", "cam", "-n", ns), ("push-url", "cam", "-n", ns, "--show-key"))
    obs, srt, whip = (
        here("push-url", "cam", "-n", ns, "--obs", "--show-key"),
        here("push-url", "cam", "-n", ns, "--protocol", "srt"),
        here("push-url", "cam", "-n", ns, "--protocol", "whip"),
    )
    assert masked.returncode == 0 and masked.stdout == f"{stream['status']['ingest']['pushUrl']}/********\n"
    assert "--show-key" in masked.stderr and key not in masked.stdout + masked.stderr
    assert shown.returncode == 0 and shown.stdout.strip().endswith(f"/live/{key}"), shown.stderr
    assert obs.stdout.splitlines() == [f"Server: {stream['status']['ingest']['pushUrl']}", f"Stream Key: {key}"]
    assert "Service: Custom..." in obs.stderr
    assert srt.stdout.strip().endswith("?mode=caller&passphrase=********") and key not in srt.stdout + srt.stderr
    assert failed(whip, "does not accept whip")
    publishers.append(Publisher(shown.stdout.strip(), size="320x180", rate=15, audio=True).start())

    # status: what the operator observed, on one screen and in the table.
    cluster.wait_status("livestreams", ns, "cam", lambda s: s["status"]["live"] and s["status"]["frameRate"], "live")
    one, table, hls = plugins(
        env, ("status", "cam", "-n", ns), ("status", "-A"), ("url", "cam", "-n", ns, "--format", "hls")
    )
    assert one.returncode == 0, one.stderr
    screen = one.stdout
    assert f"livestream {ns}/cam" in screen and "Live:       yes, on air: primary since" in screen, screen
    assert "320x180 h264" in screen and "Audio:      aac" in screen and "b/s (speed" in screen, screen
    assert "Restreams:  yt" in screen and "rtmp://127.0.0.1:9/live2" in screen, screen
    row = next(line.split() for line in table.stdout.splitlines() if line.startswith(f"{ns} "))
    assert row[:5] == [ns, "cam", "yes", "primary", "rtmp"] and "320x180" in row and "0/1" in row, table.stdout

    # record start / stop: a Recording; a second start refused while it is not stopped.
    started = plugin(env, "record", "start", "cam", "-n", ns, "--name", "take-1")
    assert started.returncode == 0 and "recording take-1 created" in started.stdout, started.stderr
    assert cluster.get("recordings", ns, "take-1")["spec"] == {"streamRef": {"name": "cam"}, "stopped": False}
    assert failed(here("record", "start", "cam", "-n", ns), "already has a recording that is not stopped (take-1)")
    stopped = plugin(env, "record", "stop", "cam", "-n", ns)
    assert stopped.returncode == 0 and "take-1" in stopped.stdout, stopped.stderr
    assert cluster.get("recordings", ns, "take-1")["spec"]["stopped"] is True

    # url: the status URL (public); play: through a port-forward to the Service the URL names.
    assert hls.returncode == 0 and hls.stdout.strip() == stream["status"]["playback"]["hlsCmafUrl"], hls.stderr
    service = cluster.get("services", ns, "cam-ingest")
    http_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
    inside = f"http://cam-ingest.{ns}.svc.cluster.local:{http_port}/hls/cmaf/index.m3u8"
    eventually(lambda: http_get(f"http://127.0.0.1:{ingest.http_port}/hls/cmaf/index.m3u8")[0] == 200, what="HLS")
    patch = {"status": {"playback": {"hlsCmafUrl": inside, "exposure": "ClusterIP"}}}
    cluster.kubectl(
        "patch", "livestream", "cam", "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps(patch)
    )
    played = plugin(env, "play", "cam", "-n", ns)
    assert played.returncode == 0, played.stderr
    record = json.loads((tmp_path / "p").read_text())
    got = record["argv"][-1]
    assert got.startswith("http://127.0.0.1:") and got.endswith("/hls/cmaf/index.m3u8"), record
    assert record["body"].startswith("#EXTM3U"), record
    assert (f"{ns}/cam-ingest", ingest.http_port) in kubelet.forwarded
    pid = int(played.stderr.split("kubectl pid ")[1].split(")")[0])
    assert not Path(f"/proc/{pid}").exists(), "the port-forward is stopped with the player"
    assert not tcp_accepts(int(got.split(":")[2].split("/")[0]))

    # rotate-key: a new key in the Secret, never printed; --playback: the namespace's signing key.
    rotated, playback, mine = plugins(
        env,
        ("rotate-key", "cam", "-n", ns),
        ("rotate-key", "--playback", "-n", ns),
        ("video", "url", "take-1", "-n", ns),
    )
    new_key = secret_value(cluster, ns, "cam-stream-key", "streamKey")
    assert rotated.returncode == 0 and new_key != key and "Encoders must be updated" in rotated.stdout
    assert new_key not in rotated.stdout + rotated.stderr and len(new_key) == 32
    assert playback.returncode == 0 and "streamops-playback-keys" in playback.stdout, playback.stderr
    assert cluster.get("secrets", ns, "streamops-playback-keys") is not None

    # video url: as `streamops video url`, here for a Recording on the recordings claim still on its
    # first video (what is missing is said before the signing key is looked for).
    theirs = subprocess.run(
        [str(BIN / "streamops"), "video", "url", "take-1", "-n", ns], env=env, capture_output=True, text=True
    )
    assert failed(mine, "take-1 has no finished video yet") and theirs.returncode == 1
    assert mine.stderr.split(": ", 1)[1] == theirs.stderr.split(": ", 1)[1]


def test_errors_are_one_line(
    cluster: Cluster, namespace: str, user_env: dict[str, str], here: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    ns = namespace
    cluster.apply(ns, livestream("lobby", source={"pull": {"urls": ["rtmp://127.0.0.1:9/live/a"]}}))
    refusals = {
        ("status", "nothing", "-n", ns): f"livestream nothing not found in namespace {ns}",
        ("push-url", "lobby", "-n", ns): "pulls from origins",
        ("rotate-key", "lobby", "-n", ns): "pulls from origins",
        ("record", "stop", "nothing", "-n", ns): "no recording and no livestream named nothing",
        ("url", "lobby", "-n", ns, "--format", "dash"): "no dash URL in status.playback",
        ("status", "lobby", "-A"): "a NAME or -A, not both",
    }
    for args, says in refusals.items():
        assert failed(here(*args), says), args
    empty = here("status", "-n", f"{ns}-none")  # nothing to show is no failure, said as kubectl says it
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", f"no livestreams in namespace {ns}-none\n")
    # As a process: no usable credentials is one line too.
    forbidden = {**user_env, "KUBECONFIG": str(Path(user_env["KUBECONFIG"]).with_name("nobody"))}
    assert failed(plugin(forbidden, "status", "-A"), "no usable kubeconfig")


def test_video_url_is_streamops_video_url(
    cluster: Cluster,
    operator: Operator,
    namespace: str,
    user_env: dict[str, str],
    here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """A video uploaded to object storage (the status as a recorder's upload leaves it): the same presigned
    link as `streamops video url` prints."""
    ns, env = namespace, user_env
    s3 = {"endpoint": "http://s3.storage:9000", "publicEndpoint": "https://videos.example.com", "bucket": "vods"}
    s3 |= {"pathStyle": True, "credentialsSecret": "s3-keys"}
    cluster.kubectl(
        "create", "secret", "generic", "s3-keys", "-n", ns,
        "--from-literal=accessKeyId=AKIAEXAMPLE", "--from-literal=secretAccessKey=example-secret-key",
    )  # fmt: skip
    cluster.apply(ns, livestream("cam"), recording("archive", stopped=True, storage={"s3": s3}))
    # Stopped before it recorded anything: the operator's status says so; the upload is the test's.
    cluster.wait_status("recordings", ns, "archive", lambda r: r["status"]["conditions"], "the operator's status")
    video = {
        "title": "Stream Record: Camera, 2026-11-25 04:20:00",
        "url": "s3://vods/streamops/cam/archive.mp4",
        "upload": "uploaded",
        "durationSeconds": 600.0,
        "sizeBytes": 123456789,
        "startedAt": "2026-11-25T04:10:00Z",
        "endedAt": "2026-11-25T04:20:00Z",
    }
    patch = json.dumps({"status": {"videos": [video], "storage": {"s3": s3}}})
    cluster.kubectl("patch", "recording", "archive", "-n", ns, "--subresource=status", "--type=merge", "-p", patch)
    with ThreadPoolExecutor(max_workers=2) as pool:
        ours = pool.submit(plugin, env, "video", "url", "archive", "1", "-n", ns, "--expires", "600")
        theirs = subprocess.run(
            [str(BIN / "streamops"), "video", "url", "archive", "1", "-n", ns, "--expires", "600"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        mine = ours.result()
    assert mine.returncode == 0 and theirs.returncode == 0, (mine.stderr, theirs.stderr)
    link, same = mine.stdout.strip(), theirs.stdout.strip()
    assert link.startswith("https://videos.example.com/vods/streamops/cam/archive.mp4?"), link
    assert "X-Amz-Expires=600" in link and "X-Amz-Signature=" in link and "example-secret-key" not in link
    # Signed a moment apart: the same link but for the signing time and the signature.
    assert link.split("X-Amz-Date")[0] == same.split("X-Amz-Date")[0]
    assert failed(here("video", "url", "archive", "2", "-n", ns), "has 1 video(s): choose 1..1")
