"""The by-hand install on the local cluster, run as written (issue 25): the block between
`<!-- hand-install:begin -->` and `<!-- hand-install:end -->` (in whichever tracked *.md holds it),
in bash from the repository's root.

Two lines stand for what the session's cluster already is: `make cluster-up NODES=2` is that cluster
(started by the same LocalCluster code, its LAN registry included) plus cluster-up's own last steps,
run here as the Makefile runs them (`kubectl apply -f crds`, `python -m devtools.cluster.hand_install`);
`make cluster-down` is left to the session. `make push-images push-chart` runs as written (the
session's cluster pushed the same images already: nothing moves). `.cluster` in the block is the
session cluster's directory. The session's release is uninstalled first and installed again afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release, ReleaseError
from devtools.doc_blocks import documented_block
from devtools.processes import kill_group
from devtools.versions import REPO

pytestmark = pytest.mark.timeout(900)

FIRST, LAST = "make cluster-up NODES=2", "make cluster-down"




@pytest.fixture
def without_the_session_release(cluster: LocalCluster, release: Release) -> Iterator[None]:
    release.uninstall()
    try:
        yield
    finally:
        for args in (
            ("delete", "lst", "obs-studio", "--ignore-not-found", "--wait=true", "--timeout=120s"),
            ("delete", "rec", "obs-studio-keynote", "--ignore-not-found"),
            ("delete", "pvc", "streamops-recordings", "--ignore-not-found", "--wait=false"),
        ):
            cluster.kubectl(*args, "-n", "default", check=False)
        with contextlib.suppress(ReleaseError):  # the block may have failed before installing
            release.uninstall()
        cluster.kubectl("delete", "pv", "recordings-default", "--ignore-not-found", "--wait=false", check=False)
        release.install()


def test_the_readme_by_hand_install_works_as_written(
    cluster: LocalCluster, without_the_session_release: None, tmp_path: Path
) -> None:
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
