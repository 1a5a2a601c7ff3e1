"""Publishing for real (devtools.publish, docs/design/publishing.md): the four images `make images`
builds and the chart, pushed by the code `make push-images` and `make push-chart` run, to CNCF
Distribution (hack/build-registry.sh) on 127.0.0.1, read back with crane and helm; and the pushes
that must be refused, refused with their message before anything is built or sent."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.oci import LAYER_TYPE, MANIFEST_TYPE
from devtools.processes import alive
from devtools.publish import (
    DIST,
    INSECURE_HINT,
    PUBLISHED,
    BuiltImage,
    Target,
    app_version,
    build_images,
    chart_meta,
    parse_registry,
)
from devtools.registry import Registry
from devtools.versions import REPO, crane_bin, helm_bin

PREFIX = "streamops"


@pytest.fixture(scope="module")
def tools_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """crane's and helm's configuration, credentials and caches in a directory of the test's own."""
    home = tmp_path_factory.mktemp("publish-home")
    return {
        **os.environ,
        "DOCKER_CONFIG": str(home / "docker"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_DATA_HOME": str(home / "helm-data"),
        "HELM_REGISTRY_CONFIG": str(home / "helm-registry.json"),
    }


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with Registry() as server:
        yield server


@pytest.fixture(scope="module")
def built() -> list[BuiltImage]:
    """`make images`: warm after `make test`'s build step (it runs `make images`): ≈1 s."""
    return build_images(log=lambda _msg: None)


def publish(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What the make targets run: python -m devtools.publish ..."""
    argv = [sys.executable, "-m", "devtools.publish", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)


def crane(*args: str, env: dict[str, str]) -> bytes:
    """crane against the plain-HTTP registry on loopback; its stdout as bytes (configs hashed as sent)."""
    argv = [str(crane_bin()), *args, "--insecure"]
    done = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.fixture(scope="module")
def pushed(registry: Registry, built: list[BuiltImage], tools_env: dict[str, str]) -> Target:
    done = publish("push-images", "--registry", f"{registry.address}/{PREFIX}", env=tools_env)
    assert done.returncode == 0, done.stderr
    assert "plain HTTP (loopback)" in done.stderr
    return parse_registry(f"{registry.address}/{PREFIX}")


def test_make_images_builds_the_four_with_both_tags(built: list[BuiltImage]) -> None:
    assert [image.name for image in built] == list(PUBLISHED)
    for image in built:
        assert image.repository == f"streamops-{image.name}"
        version, content = image.tags
        assert version == app_version() and len(content) == 16
        assert Path(image.archive).name == f"{image.name}-{content}.tar"  # the local cluster's image
        index = json.loads((Path(image.layout) / "index.json").read_text())
        (entry,) = index["manifests"]
        assert entry["digest"] == image.manifest_digest
        assert entry["annotations"]["org.opencontainers.image.ref.name"] == version
    assert json.loads((DIST / "images.json").read_text())[0]["manifest_digest"] == built[0].manifest_digest


def test_every_image_reads_back_as_built(
    pushed: Target, built: list[BuiltImage], registry: Registry, tools_env: dict[str, str]
) -> None:
    """Both tags resolve to the manifest built here, whose config is the docker-archive's own (the
    image ID a node's containerd shows after `ctr images import`) and whose layers are the layout's."""
    assert registry.catalog() == sorted(f"{PREFIX}/{image.repository}" for image in built)
    for image in built:
        assert registry.tags(f"{PREFIX}/{image.repository}") == sorted(image.tags)
        for tag in image.tags:
            ref = pushed.image(image.repository, tag)
            assert crane("digest", ref, env=tools_env).decode().strip() == image.manifest_digest, ref
        manifest_bytes = crane("manifest", ref, env=tools_env)
        assert f"sha256:{hashlib.sha256(manifest_bytes).hexdigest()}" == image.manifest_digest
        manifest = json.loads(manifest_bytes)
        assert manifest["mediaType"] == MANIFEST_TYPE
        assert manifest["config"]["digest"] == image.config_digest
        config = crane("config", ref, env=tools_env)
        assert f"sha256:{hashlib.sha256(config).hexdigest()}" == image.config_digest
        with tarfile.open(image.archive) as archive:
            names = {m.name.removeprefix("./"): m for m in archive.getmembers()}
            listed = json.loads(archive.extractfile(names["manifest.json"]).read())  # type: ignore[union-attr]
            assert archive.extractfile(names[listed[0]["Config"]]).read() == config  # type: ignore[union-attr]
        blobs = Path(image.layout) / "blobs" / "sha256"
        for layer in manifest["layers"]:
            assert layer["mediaType"] == LAYER_TYPE
            assert (blobs / layer["digest"].removeprefix("sha256:")).stat().st_size == layer["size"]
        assert len(manifest["layers"]) == len(json.loads(config)["rootfs"]["diff_ids"])


def test_pushing_again_moves_nothing(pushed: Target, registry: Registry, tools_env: dict[str, str]) -> None:
    """A second push of the same images: every blob is there already, the digests are unchanged."""
    done = publish("push-images", "--registry", f"{registry.address}/{PREFIX}", env=tools_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"{registry.address}/{PREFIX}/streamops-") == len(PUBLISHED)


def test_the_chart_pulls_back_as_packaged(registry: Registry, tools_env: dict[str, str], tmp_path: Path) -> None:
    meta = chart_meta()
    done = publish("push-chart", "--registry", f"{registry.address}/{PREFIX}", env=tools_env)
    assert done.returncode == 0, done.stderr
    ref, digest = done.stdout.split()
    assert ref == f"{registry.address}/{PREFIX}/streamops:{meta['version']}"
    chart_url = f"oci://{registry.address}/{PREFIX}/streamops"
    assert f"helm install streamops {chart_url} --version {meta['version']}" in done.stderr
    package = DIST / f"streamops-{meta['version']}.tgz"
    pull = [str(helm_bin()), "pull", chart_url, "--version", meta["version"]]
    got = subprocess.run(
        [*pull, "--plain-http", "--destination", str(tmp_path)], env=tools_env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert digest in got.stdout + got.stderr
    assert (tmp_path / package.name).read_bytes() == package.read_bytes()
    assert registry.tags(f"{PREFIX}/streamops") == [meta["version"]]


# --- refusals: each before any build, crane or helm ---------------------------------------------------------


def test_make_refuses_a_missing_registry() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY", "MAKEFLAGS", "MAKELEVEL")}
    for target in ("push-images", "push-chart"):
        done = subprocess.run(
            ["make", "-C", str(REPO), "--no-print-directory", target], env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"make {target}: REGISTRY is required: host[:port][/prefix]" in done.stderr


def test_refusals_say_why(registry: Registry, tools_env: dict[str, str]) -> None:
    cases = {
        # no registry at all, as the CLI gets it from an empty REGISTRY
        "": "REGISTRY is required",
        # plain HTTP to a registry off loopback, without INSECURE_REGISTRY=1: refused without a packet sent
        "http://192.0.2.10:5000/streamops": f"plain HTTP to 192.0.2.10:5000 refused: {INSECURE_HINT}",
        # HTTPS asked of a registry that speaks plain HTTP (the real one on loopback): crane and helm
        # would fall back to plain HTTP by themselves; refused instead
        f"https://{registry.address}/{PREFIX}": f"{registry.address} does not answer HTTPS",
        "ghcr.io/StreamOps": "is not a repository path",
    }
    for value, message in cases.items():
        for command in ("push-images", "push-chart"):
            done = publish(command, "--registry", value, env=tools_env)
            assert done.returncode == 2 and message in done.stderr, (value, done.stderr)
            assert not done.stdout
    wrong = publish("check", "--registry", registry.address, "--release-tag", "v99.0.0", env=tools_env)
    assert wrong.returncode == 2 and "RELEASE_TAG=v99.0.0, but Chart.yaml has version" in wrong.stderr


@pytest.mark.parametrize(
    ("value", "insecure", "host", "prefix", "plain"),
    [
        ("127.0.0.1:5000/streamops", False, "127.0.0.1:5000", "streamops", True),
        ("127.0.0.2:5000/a/b", False, "127.0.0.2:5000", "a/b", True),  # all of 127.0.0.0/8
        ("localhost:5000", False, "localhost:5000", "", True),
        ("oci://127.0.0.1:5000/streamops/", False, "127.0.0.1:5000", "streamops", True),
        ("https://127.0.0.1:5000/streamops", False, "127.0.0.1:5000", "streamops", False),
        ("ghcr.io/streamops", False, "ghcr.io", "streamops", False),
        # a private address: crane itself would fall back to plain HTTP here; we require HTTPS
        ("10.241.0.1:5000/streamops", False, "10.241.0.1:5000", "streamops", False),
        ("http://10.241.0.1:5000/streamops", True, "10.241.0.1:5000", "streamops", True),
        ("registry.example.com:8443/team/media", True, "registry.example.com:8443", "team/media", True),
    ],
)
def test_registry_values(value: str, insecure: bool, host: str, prefix: str, plain: bool) -> None:
    target = parse_registry(value, insecure)
    assert (target.host, target.prefix, target.plain_http) == (host, prefix, plain)
    assert target.image("streamops-worker", "0.1.0") == "/".join(filter(None, [host, prefix, "streamops-worker:0.1.0"]))


def test_the_registry_is_stopped_by_pid_and_leaves_nothing() -> None:
    server = Registry().start()
    pid, storage = server.pid, server.storage
    assert pid is not None and alive(pid) and (storage / "config.yml").exists()
    server.stop()
    assert not alive(pid) and not storage.exists()


def test_the_release_workflow_runs_these_make_targets() -> None:
    """.github/workflows/release.yml cannot run here: its steps are `make deps` and the targets tested above, on a tag,
    with RELEASE_TAG set from it, against ghcr.io, actions pinned to a release."""
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    job = workflow["jobs"]["publish"]
    assert job["env"]["REGISTRY"] == "ghcr.io/streamops"
    assert job["env"]["RELEASE_TAG"] == "${{ github.ref_name }}"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    targets = [t for run in runs for t in re.findall(r"^make ([a-z0-9-]+)", run, re.M)]
    assert targets == ["deps", "registry-login", "images", "push-images", "chart-package", "push-chart"]
    makefile = (REPO / "Makefile").read_text()
    for target in targets:
        assert re.search(rf"^{target}:.*## ", makefile, re.M), f"make {target} is not a documented target"
    for step in job["steps"]:
        if "uses" in step:
            assert re.search(r"@v\d+\.\d+\.\d+$", step["uses"]), f"unpinned action {step['uses']}"
    assert "REGISTRY_PASSWORD" not in " ".join(runs)  # the token only in the environment
