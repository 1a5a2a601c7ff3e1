"""The by-hand install on the local cluster, run as written (issue 25): the block between
`<!-- hand-install:begin -->` and `<!-- hand-install:end -->` (in whichever tracked *.md holds it),
in bash from the repository's root.

Two lines stand for what the session's cluster already is: `make cluster-up NODES=2` is that cluster
(started by the same LocalCluster code, its LAN registry included) plus cluster-up's own last steps,
run here as the Makefile runs them (`kubectl apply -f crds`, `python -m devtools.cluster.hand_install`);
`make cluster-down` is left to the session. `make push-images push-chart` runs as written (the
session's cluster pushed the same images already: nothing moves). `.cluster` in the block is the
session cluster's directory.

And the quick start on an existing cluster (block `quick-start`, issue 54): see
test_the_quick_start_works_as_written. The session's release is uninstalled once before this
module's blocks and installed again after them (each block installs the same release name).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.cluster.hand_install import write_hand_install_files
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release, ReleaseError
from devtools.doc_blocks import documented_block
from devtools.media.peers import Publisher
from devtools.processes import kill_group
from devtools.versions import REPO, helm_bin
from devtools.waits import WaitTimeout, eventually

# sets_release: without_the_session_release uninstalls what the test before it left
# (devtools.test_scopes.RELEASE_CHAIN).
pytestmark = [pytest.mark.timeout(900), pytest.mark.sets_release]

FIRST, LAST = "make cluster-up NODES=2", "make cluster-down"


@pytest.fixture(scope="module")
def without_the_session_release(cluster: LocalCluster, release: Release) -> Iterator[None]:
    """The session's release uninstalled once for this module's blocks, installed again after them when
    the next test needs it (Release.restore_later: the next module of devtools.test_scopes.RELEASE_CHAIN
    installs it with its own values)."""
    release.uninstall()
    try:
        yield
    finally:
        release.restore_later()


def remove_what_the_blocks_made(cluster: LocalCluster, release: Release) -> None:
    """The blocks' stream, recording, claim, release and volume (each block installs the same release)."""
    for args in (
        ("delete", "lst", "obs-studio", "--ignore-not-found", "--wait=true", "--timeout=120s"),
        ("delete", "rec", "obs-studio-keynote", "--ignore-not-found"),
        ("delete", "pvc", "streamops-recordings", "--ignore-not-found", "--wait=false"),
    ):
        cluster.kubectl(*args, "-n", "default", check=False)
    with contextlib.suppress(ReleaseError):  # the block may have failed before installing
        release.uninstall()
    cluster.kubectl("delete", "pv", "recordings-default", "--ignore-not-found", "--wait=false", check=False)
    # Gone before the next block applies a volume and a claim of the same names (their protection
    # finalizers go once no Pod uses them): applied over while still going, the new ones went with
    # them, and the quick start's Recording never had its claim bound (ci73: "no persistent volumes
    # available for this claim").
    eventually(
        lambda: cluster.get("persistentvolumes", "", "recordings-default") is None
        and cluster.get("persistentvolumeclaims", "default", "streamops-recordings") is None,
        timeout=120, interval=0.5, what="the block's recordings volume and claim gone",
    )  # fmt: skip


@pytest.fixture
def hand_install(cluster: LocalCluster, release: Release, without_the_session_release: None) -> Iterator[None]:
    try:
        yield
    finally:
        remove_what_the_blocks_made(cluster, release)


def test_the_readme_by_hand_install_works_as_written(cluster: LocalCluster, hand_install: None, tmp_path: Path) -> None:
    lines = documented_block("hand-install")  # README.md, CONTRIBUTING.md or docs/**
    assert lines[0] == FIRST and lines[-1] == LAST, lines
    # The registry path (issue 38): published with the make targets, installed from oci://.
    block = "\n".join(lines)
    assert "make push-images push-chart REGISTRY=$REGISTRY" in block, block
    assert "helm install streamops oci://$REGISTRY/streamops --version $CHART_VERSION" in block, block
    # cluster-up's steps after the cluster itself, as the Makefile's cluster-up-nodes runs them
    kubectl = str(cluster.plane.bin_dir / "kubectl")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    subprocess.run([kubectl, "apply", "-f", "crds"], cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run(
        [sys.executable, "-m", "devtools.cluster.hand_install", "--dir", str(cluster.dir)],
        cwd=REPO, env=env, check=True, capture_output=True,
    )  # fmt: skip

    script = "\n".join(lines[1:-1]).replace("$PWD/.cluster", str(cluster.dir)).replace(".cluster", str(cluster.dir))
    log = tmp_path / "hand-install.log"
    with open(log, "w") as out:
        # -x: the log shows each command as run; the encoder started with `&` is the shell's child
        proc = subprocess.Popen(
            ["bash", "-euxo", "pipefail", "-c", script], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        )  # fmt: skip
        try:
            rc = proc.wait(timeout=600)
        finally:
            kill_group(proc.pid)  # the encoder (`&`: the shell's group) if the block ended before it
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    output = log.read_text()
    if rc != 0:
        state = cluster.kubectl("get", "lst,rec,pods", "-n", "default", "-o", "wide", check=False).stdout
        ingest = cluster.kubectl("logs", "obs-studio-ingest", "-n", "default", "--tail=30", check=False).stdout
        raise AssertionError(f"the documented block failed (exit {rc}):\n{output[-3000:]}\n{state}\n{ingest}")
    ingest = cluster.get("pods", "default", "obs-studio-ingest") or {}
    image_ids = [c["imageID"] for c in ingest["status"]["containerStatuses"]]
    assert all(i.startswith(f"{cluster.registry.lan_address}/streamops/") for i in image_ids), image_ids
    videos = [line for line in output.splitlines() if line.endswith(".mp4") and not line.startswith("+")]
    assert videos and Path(videos[-1]).is_file(), f"the video on this machine:\n{output[-2000:]}"
    assert Path(videos[-1]).stat().st_size > 1_000_000, "15 s of 720p"


# -- the quick start ------------------------------------------------------------------------------

QUICK_START_VARIABLES = ("REGISTRY", "NODE_ADDRESS")
PLAY_SECONDS = 4  # what the player stand-in decodes
# ffplay's stand-in: ffprobe decoding PLAY_SECONDS of the URL's video (the last argument) on the LAN,
# or here when `play` port-forwarded to 127.0.0.1; it prints the frames decoded.
FFPLAY_SHIM = f"""#!/bin/sh
for url; do :; done
case "$url" in *://127.*) in_lan= ;; *) in_lan="nsenter --net=/run/netns/$LAN_NETNS" ;; esac
exec timeout 60 $in_lan ffprobe -v error -rw_timeout 10000000 -select_streams v:0 -read_intervals %+{PLAY_SECONDS} \\
  -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$url"
"""


def commands(lines: list[str]) -> list[str]:
    """The block's commands: a line, with the lines its trailing backslash continues."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].endswith("\\"):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def registry_name_on_nodes(cluster: LocalCluster, name: str) -> list[Path]:
    """Each node's containerd pulls `name` (this machine's address of the LAN registry) from the LAN
    registry: a registry mirror entry (hosts.toml), as a cluster whose nodes reach a registry under
    another address than the admin's machine has. containerd reads it at each pull."""
    written = []
    for node in cluster.nodes:
        hosts = node.root / "containerd" / "certs.d" / name / "hosts.toml"
        hosts.parent.mkdir(parents=True, exist_ok=True)
        lan = f"http://{cluster.registry.lan_address}"
        hosts.write_text(f'server = "{lan}"\n\n[host."{lan}"]\n  capabilities = ["pull", "resolve"]\n')
        written.append(hosts)
    return written


@pytest.fixture
def quick_start(cluster: LocalCluster, release: Release, without_the_session_release: None) -> Iterator[str]:
    """REGISTRY as this machine reaches the LAN registry, its name known to the nodes; the cluster's
    storage for recordings (a volume on node-1: the local cluster has no provisioner)."""
    portal = cluster.registry.portal_address
    assert portal, "the session cluster's registry runs"
    written = registry_name_on_nodes(cluster, portal)
    write_hand_install_files(cluster)  # recordings-volume.yaml among them
    cluster.kubectl("apply", "-f", str(cluster.dir / "recordings-volume.yaml"))
    try:
        yield f"{portal}/streamops"
    finally:
        remove_what_the_blocks_made(cluster, release)
        for path in written:
            shutil.rmtree(path.parent, ignore_errors=True)


def test_the_quick_start_works_as_written(cluster: LocalCluster, quick_start: str, tmp_path: Path) -> None:
    """The quick start (block `quick-start`, in whichever tracked *.md holds it), each command in bash
    from the repository's root as written, except what stands for the reader's side:
    - the clone and `pip install ./operator` line: this repository and its venv are that (.venv/bin,
      with `streamops` and `kubectl-streamops`, is on PATH; so are the cluster's kubectl and helm,
      KUBECONFIG the session cluster's);
    - REGISTRY and NODE_ADDRESS, which the block tells the reader to set: the cluster's LAN registry as
      this machine reaches it (its loopback portal, plain HTTP by devtools.publish's rule for
      127.0.0.0/8), a name each node's containerd is told to pull from the LAN registry
      (registry_name_on_nodes); node-1's LAN address;
    - OBS: a real FFmpeg encoder on the LAN pushing to the Server and Stream Key `push-url --obs
      --show-key` printed, started after that command and trying again when refused, as OBS does;
    - ffplay: `play` runs the first ffplay on PATH, here FFPLAY_SHIM: ffprobe decoding 4 s of the
      HLS URL `play` passes it, on the LAN, printing the frames decoded (> 0 asserted).
    The stream goes live, plays, and the Recording records into the cluster's volume."""
    lines = commands(documented_block("quick-start"))
    clone, variables, *rest = lines
    assert "git clone" in clone and "pip install ./operator" in clone, clone
    assigned = re.findall(r"\b([A-Z_]+)=\S+", variables.split("#")[0])
    assert tuple(assigned) == QUICK_START_VARIABLES, variables
    push_url = next(i for i, c in enumerate(rest) if c.startswith("kubectl streamops push-url"))
    play = next(i for i, c in enumerate(rest) if c.startswith("kubectl streamops play"))
    assert push_url < play < len(rest) - 1 and "examples/recording.yaml" in rest[-1], rest
    assert "--set imageRegistry=$REGISTRY" in "\n".join(rest)

    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "ffplay").write_text(FFPLAY_SHIM)
    (shims / "ffplay").chmod(0o755)
    tools = [str(shims), str(Path(sys.executable).parent), str(cluster.plane.bin_dir), str(helm_bin().parent)]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([*tools, os.environ["PATH"]]),
        "KUBECONFIG": str(cluster.kubeconfig),
        "LAN_NETNS": cluster.network.outside,
    }
    given = f"REGISTRY={quick_start} NODE_ADDRESS={cluster.network.nodes[0].ip}"
    log = tmp_path / "quick-start.log"

    def run(command: str, timeout: float = 300, secret: bool = False) -> str:
        began = time.monotonic()
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"{given}\n{command}"], cwd=REPO, env=env, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip
        with open(log, "a") as out:
            shown = "(stdout not logged: the stream key)\n" if secret else proc.stdout
            out.write(f"$ {command}\n{shown}{proc.stderr}[exit {proc.returncode}, {time.monotonic() - began:.1f}s]\n")
        if proc.returncode != 0:
            state = cluster.kubectl("get", "lst,rec,pods", "-n", "default", "-o", "wide", check=False).stdout
            raise AssertionError(f"{command!r} failed:\n{log.read_text()[-4000:]}\n{state}")
        return proc.stdout

    for command in rest[:push_url]:
        run(command)
    printed = run(rest[push_url], secret=True)
    server = re.search(r"^Server:\s*(\S+)", printed, re.M)
    key = re.search(r"^Stream Key:\s*(\S+)", printed, re.M)
    assert server and key, "push-url --obs printed a Server and a Stream Key"
    started: list[Publisher] = []
    try:
        cluster.publish_from_lan(f"{server.group(1).rstrip('/')}/{key.group(1)}", started)
        eventually(
            lambda: ((cluster.get("lst", "default", "obs-studio") or {}).get("status") or {}).get("live"),
            timeout=60, interval=0.5, what="obs-studio live",
        )  # fmt: skip
        for command in rest[push_url + 1 : play]:
            run(command)
        frames = run(rest[play], timeout=120).split()
        assert frames and frames[-1].isdigit() and int(frames[-1]) > 0, log.read_text()[-2000:]
        for command in rest[play + 1 :]:
            run(command)

        def recording() -> object:
            return ((cluster.get("rec", "default", "obs-studio-keynote") or {}).get("status") or {}).get("recording")

        try:
            eventually(recording, timeout=60, interval=0.5, what="obs-studio-keynote recording")
        except WaitTimeout as e:  # ci41 (load 8): not recording after 60 s, and nothing said why
            rec = cluster.kubectl("get", "rec", "obs-studio-keynote", "-n", "default", "-o", "yaml", check=False)
            logs = cluster.kubectl("logs", "-n", "default", "obs-studio-keynote-recorder", "--tail=60", check=False)
            told = f"{rec.stdout}\n{cluster.diagnose('default')}\n--- recorder:\n{logs.stdout}{logs.stderr}"
            raise AssertionError(f"{e}\n{told}") from e
        videos = cluster.dir / "recordings" / "default"
        eventually(
            lambda: any(p.is_file() and p.stat().st_size > 0 for p in videos.rglob("*")),
            timeout=30, interval=0.5, what=f"recorded bytes under {videos}",
        )  # fmt: skip
    finally:
        for encoder in started:
            encoder.stop()
    ingest = cluster.get("pods", "default", "obs-studio-ingest") or {}
    images = [c["image"] for c in ingest["spec"]["containers"]]
    assert all(i.startswith(f"{quick_start}/streamops-") for i in images), images
    print(f"\nquick start: {frames[-1]} frames played; {log.read_text().count('[exit 0')} commands")
