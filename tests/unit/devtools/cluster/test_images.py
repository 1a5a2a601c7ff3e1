"""The images of the local cluster (devtools.cluster.images): a static image of one Go binary."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

from devtools.cluster.images import ARCHIVE_KEPT_SECONDS, EDGE_STOP_SIGNAL, ImageBuilder


def test_a_static_image_keeps_its_binary_where_upstreams_does(tmp_path: Path) -> None:
    """The Prometheus Operator sets /bin/prometheus-config-reloader as the command and mounts the TSDB
    at /prometheus: the binary at a path of its own, directories included, the tag following it."""
    binary = tmp_path / "reloader"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    builder = ImageBuilder(tmp_path / "cache", log=lambda _msg: None)
    config = {"Entrypoint": ["/bin/prometheus-config-reloader"], "User": "65532:65532", "WorkingDir": "/"}
    image = builder._static("reloader", binary, "never-run.sh", config, "/bin/prometheus-config-reloader")
    with tarfile.open(image.archive) as archive:
        manifest = json.load(archive.extractfile("./manifest.json"))  # type: ignore[arg-type]
        layer = archive.extractfile(f"./{manifest[0]['Layers'][0]}").read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(layer)) as files:
        members = {m.name: m for m in files.getmembers()}
    assert set(members) == {".", "./bin", "./bin/prometheus-config-reloader"}
    assert members["./bin/prometheus-config-reloader"].mode & 0o777 == 0o755
    assert builder._static("reloader", binary, "never-run.sh", config).version != image.version  # path in the tag


def test_another_checkouts_archive_of_an_image_stays_while_it_may_be_read(tmp_path: Path) -> None:
    """A fresh-clone CI's `make images` once failed: a worktree's build of another worker deleted
    the clone's archive between its write and its read (they share the cache)."""
    builder = ImageBuilder(tmp_path / "cache", log=lambda _msg: None)
    cache = tmp_path / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    stale, recent = cache / "worker-1111111111111111.tar", cache / "worker-2222222222222222.tar"
    for archive in (stale, recent):
        archive.write_bytes(b"old")
    long_ago = time.time() - ARCHIVE_KEPT_SECONDS - 1
    os.utime(stale, (long_ago, long_ago))
    new = cache / "worker-3333333333333333.tar"
    writes: list[Path] = []
    builder._archive("worker", new, cache.glob("worker-*.tar"), lambda: writes.append(new) or new.write_bytes(b"new"))
    assert writes == [new] and not stale.exists() and recent.exists(), "only an archive no one used for long goes"
    os.utime(new, (long_ago, long_ago))
    builder._archive("worker", new, cache.glob("worker-*.tar"), lambda: writes.append(new))
    assert writes == [new] and new.stat().st_mtime > long_ago, "an archive there is used again, and marked used"


def test_the_edge_image_stops_nginx_gracefully_as_its_dockerfile_says() -> None:
    """SIGQUIT, nginx's graceful quit: the requests in flight when the kubelet stops an edge Pod finish
    (SIGTERM, the default stop signal, is nginx's fast shutdown: it cuts them)."""
    dockerfile = (Path(__file__).resolve().parents[4] / "images/edge/Dockerfile").read_text()
    assert EDGE_STOP_SIGNAL == "SIGQUIT"
    assert f"\nSTOPSIGNAL {EDGE_STOP_SIGNAL}\n" in dockerfile
