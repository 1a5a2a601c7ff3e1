#!/usr/bin/env python3
"""Container images for the local nodes, built without Docker or a registry.

    python -m devtools.cluster.images build [--cache DIR] [NAME...]  # prints the image tarballs and their tags

pause, worker and operator (the content of images/*/Dockerfile, on shared Debian layers), edge
(images/edge/Dockerfile: nginx and its Lua module on a Debian rootfs of its own), coredns, traefik
and prometheus (the multinode tests' monitoring), and by name only the multinode tier's add-ons
(ADDON_IMAGES: metrics-server, cert-manager, the Prometheus Operator), as docker-archive tarballs
that `ctr -n k8s.io images import` loads. Every piece is cached under $STREAMOPS_CACHE/images by a hash of its inputs,
and the tag carries the content hash. Needs root (debootstrap, chroot, mount), debootstrap, gcc
with a static libc, tar, Go (the add-ons' binaries). The layers and why: docs/design/local-cluster.md, "Images".
For registries, `make images` (devtools.publish) turns the operator, worker, overlay and edge archives
into OCI image layouts (devtools.oci): docs/design/publishing.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import streamops
from streamops.media import edge as edge_files
from streamops.media.ingest.player.page import ASSETS as PLAYER_ASSETS

from devtools.versions import (
    REPO,
    VersionsError,
    cache_dir,
    cert_manager_dir,
    coredns_bin,
    metrics_server_bin,
    prometheus_bin,
    prometheus_operator_bin_dir,
    readers_bin,
    relay_bin,
    rtmp_bin,
    traefik_bin,
    webrtc_bin,
    worker_ffmpeg_dir,
)

SUITE = "bookworm"
# What the operator and the worker need at run time (their Dockerfiles install the same).
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# What the worker adds (images/worker/Dockerfile): the shared libraries its FFmpeg (hack/build-ffmpeg.sh,
# copied into /usr/local/bin) links besides libc's and zlib, which the base has.
MEDIA_PACKAGES = ("libx264-164", "libsrt1.5-gnutls", "libgnutls30", "libopus0", "libdav1d6")
# The edge (images/edge/Dockerfile): Debian's nginx and its Lua module (LuaJIT, lua-resty-core come
# with it) and libmaxminddb (playback rules naming countries: edge_rules.lua); no Python. nginx's
# postinst would start the service: _apt_install forbids that.
EDGE_PACKAGES = ("nginx-light", "libnginx-mod-http-lua", "libmaxminddb0")
# The overlay renderer (images/overlay/Dockerfile): Debian's Chromium and a font for pages without
# web fonts of their own; no FFmpeg (the ingest container composites).
OVERLAY_PACKAGES = ("chromium", "fonts-dejavu-core")
WORKER_UID = 10001
# An image archive not used for this long may go when another of the same image is written (they
# are the size of the base); parallel checkouts share the cache and read their own meanwhile.
ARCHIVE_KEPT_SECONDS = 3600
ADDON_UID = 65532  # the add-on images: the conventional "nonroot" uid (a numeric uid needs no passwd)
VENV = "/opt/streamops"
# Where the edge image keeps streamops/media/edge's files, and the state directory nginx writes.
EDGE_DIR = edge_files.IMAGE_DIR
EDGE_STATE_DIR = edge_files.STATE_DIR
# The environment both Dockerfiles set (ENV PATH=/opt/streamops/bin:$PATH HOME=/tmp ...).
PYTHON_ENV = (
    f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/tmp",
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
)
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
static void stop(int sig) { (void)sig; _exit(0); }
int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    for (;;) pause();
}
"""


# The overlay renderer's image is built with the rest (tests/multinode/test_overlays_lan.py runs it;
# its Chromium layer: ≈110 MiB of downloads, 26 s here with a warm apt mirror) but pulled from the
# cluster's registry only by the nodes that run it (LocalCluster.pull_images): ≈940 MiB unpacked.
IMAGES = ("pause", "worker", "operator", "edge", "coredns", "traefik", "prometheus", "overlay")
# The multi-node tier's real add-ons (metrics-server, cert-manager, the Prometheus Operator), built only
# by name and by the tests that install them (devtools.cluster.metrics_server, .cert_manager,
# .prometheus_operator), each importing its images into the nodes then: `make test-images` and a
# cluster's start do not pay for them.
ADDON_IMAGES = (
    "metrics-server",
    "cert-manager-controller",
    "cert-manager-webhook",
    "cert-manager-cainjector",
    "prometheus-operator",
    "prometheus-config-reloader",
)
# What an image adds between the Python deps and the app: layers built on the base rootfs (its path, its key).
ExtraLayers = Callable[[Path, str], list[Path]]


class ImageError(RuntimeError):
    pass


# The signal that stops the edge's nginx (images/edge/Dockerfile's STOPSIGNAL): its graceful quit.
# SIGTERM, the default, is nginx's fast shutdown, which cuts the requests in flight (a blocking
# playlist reload, a part being sent) when the kubelet stops a scaled-in or replaced edge Pod.
EDGE_STOP_SIGNAL = "SIGQUIT"


@dataclass(frozen=True)
class Image:
    tag: str  # as containerd names it after import, e.g. docker.io/library/streamops-worker:abc
    archive: Path

    @property
    def short(self) -> str:
        """The name a Pod spec uses (no docker.io/library/ prefix)."""
        return self.tag.removeprefix("docker.io/library/")

    @property
    def repository(self) -> str:
        """The short name without the tag (a chart's image.repository), e.g. streamops-worker."""
        return self.short.rpartition(":")[0]

    @property
    def version(self) -> str:
        """The tag after the colon (a chart's image.tag): the content hash for images built here."""
        return self.short.rpartition(":")[2]


def debian_mirror() -> str:
    """The Debian mirror apt uses here (deb822 .sources or one-line .list), default deb.debian.org."""
    listed = Path("/etc/apt/sources.list.d")
    candidates = [*sorted(listed.glob("*.sources")), Path("/etc/apt/sources.list"), *sorted(listed.glob("*.list"))]
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            m = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            if m and re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M) and m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE and parts[1].rstrip("/").endswith("/debian"):
                return parts[1]
    return "http://deb.debian.org/debian"


def unmount_under(root: Path) -> list[str]:
    """Unmount everything mounted at or below `root` (deepest first; lazily when busy). Returns
    what was mounted there. debootstrap mounts /proc and /sys in its target while it works."""
    found: list[str] = []
    for _ in range(5):
        points = []
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point == str(root) or point.startswith(str(root) + "/"):
                    points.append(point)
        if not points:
            break
        found += points
        for point in sorted(set(points), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    return found


def _hash(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def missing_player_assets(package: Path) -> list[str]:
    """The files `make player` copies into the streamops package at `package` that are not there."""
    installed = Path(streamops.__file__).parent
    return [
        name
        for name, asset in PLAYER_ASSETS.items()
        if asset.vendored and not (package / asset.path.relative_to(installed)).exists()
    ]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _run(argv: list[str], **kw: object) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr)[-3000:]
        raise ImageError(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{out}")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _tar_dir(src: Path, out: Path, members: list[str] | None = None) -> None:
    """An uncompressed layer tar of `src` (numeric owners; /dev, /proc, /sys contents left out)."""
    tmp = out.with_suffix(".tmp")
    excludes = ["--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./run/*"]
    _run(["tar", "-C", str(src), "--numeric-owner", "--xattrs", *excludes, "-cf", str(tmp), *(members or ["."])])
    tmp.replace(out)


def write_docker_archive(out: Path, repo_tag: str, layers: list[Path], config: Mapping[str, object]) -> None:
    """docker-archive (what `docker save` writes): manifest.json + config + one tar per layer."""
    diff_ids = [f"sha256:{_sha256_file(layer)}" for layer in layers]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": dict(config),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"devtools.images layer {i}"} for i in range(len(layers))],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    layer_names = [f"{d.removeprefix('sha256:')}/layer.tar" for d in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    # Written with tarfile, not GNU tar: the layers live once in the cache and go into several
    # images, which several trees build at once; GNU tar fails a file whose ctime changes while it
    # reads it ("file changed as we read it"), and another build's hard link to a layer does that.
    # The layers are content-addressed and never rewritten in place, so their bytes are what counts.
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp_out = Path(tmp_name)
    try:
        with tarfile.open(tmp_out, "w", format=tarfile.GNU_FORMAT) as tar:
            # Entries named as `tar -C stage -cf - .` named them: "./", "./manifest.json", ...
            _add_directory(tar, ".")
            _add_bytes(tar, f"./{config_name}", config_bytes)
            _add_bytes(tar, "./manifest.json", json.dumps(manifest).encode())
            for layer, name in zip(layers, layer_names, strict=True):
                _add_directory(tar, "./" + name.rsplit("/", 1)[0])
                tar.add(layer.resolve(), arcname=f"./{name}", recursive=False)
        tmp_out.replace(out)
    finally:
        tmp_out.unlink(missing_ok=True)


def _add_directory(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


class ImageBuilder:
    def __init__(self, cache: Path | None = None, log: object = None) -> None:
        self.cache = (cache or cache_dir()) / "images"
        self.cache.mkdir(parents=True, exist_ok=True)
        self._log = log if callable(log) else (lambda msg: print(msg, file=sys.stderr))

    def log(self, msg: str) -> None:
        self._log(msg)  # type: ignore[operator]

    # -- pause --------------------------------------------------------------------------

    def pause(self) -> Image:
        key = _hash(PAUSE_C, "gcc -static -Os")
        tag = f"docker.io/library/streamops-pause:{key}"
        archive = self.cache / f"pause-{key}.tar"
        if archive.exists():
            return Image(tag, archive)
        began = time.monotonic()
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            work = Path(tmp)
            (work / "pause.c").write_text(PAUSE_C)
            root = work / "rootfs"
            root.mkdir()
            _run(["gcc", "-static", "-Os", "-s", "-o", str(root / "pause"), str(work / "pause.c")])
            layer = work / "layer.tar"
            _tar_dir(root, layer)
            config = {"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/"}
            write_docker_archive(archive, tag.removeprefix("docker.io/library/"), [layer], config)
        self.log(f"built pause image in {time.monotonic() - began:.1f}s")
        return Image(tag, archive)

    # -- worker -------------------------------------------------------------------------

    def _base(self) -> tuple[Path, Path]:
        """(rootfs dir, layer tar) of debootstrapped bookworm with the runtime packages."""
        mirror = debian_mirror()
        key = _hash(SUITE, mirror, *BASE_PACKAGES, "minbase-v1")
        root, layer = self.cache / f"base-{key}", self.cache / f"base-{key}.tar"
        if layer.exists() and (root / "usr/bin/python3").exists():
            return root, layer
        if os.geteuid() != 0:
            raise ImageError("building the worker image's root filesystem needs root (debootstrap, chroot)")
        if not shutil.which("debootstrap"):
            raise ImageError("debootstrap not found: run `make deps`")
        self.log(f"debootstrap {SUITE} from {mirror} with {', '.join(BASE_PACKAGES)} (first run only, a few minutes)")
        began = time.monotonic()
        tmp = self.cache / f"base-{key}.partial"
        unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _run([
                "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                SUITE, str(tmp), mirror,
            ])  # fmt: skip
        finally:
            unmount_under(tmp)
        # Trim what a read-only worker never uses.
        _empty_dirs(
            tmp, ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info")
        )
        # The worker's user, as the Dockerfile's USER 10001:10001 (no passwd entry needed there,
        # but ffmpeg and Python are happier with a home and a name).
        with (tmp / "etc/passwd").open("a") as f:
            f.write(f"streamops:x:{WORKER_UID}:{WORKER_UID}::/tmp:/usr/sbin/nologin\n")
        with (tmp / "etc/group").open("a") as f:
            f.write(f"streamops:x:{WORKER_UID}:\n")
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
        _tar_dir(root, layer)
        self.log(f"base rootfs built in {time.monotonic() - began:.0f}s ({layer.stat().st_size >> 20} MiB)")
        return root, layer

    def _deps(self, root: Path, base_key: str) -> Path:
        """Layer with the venv and the pinned runtime dependencies (pip, inside the rootfs)."""
        pyproject = (REPO / "operator/pyproject.toml").read_text()
        deps = _runtime_dependencies(pyproject)
        # v2: the bin/streamops script below names streamops.cli.streamops_command (a v1 layer: streamops.cli).
        key = _hash(base_key, *deps, "deps-v2")
        layer = self.cache / f"deps-{key}.tar"
        if layer.exists():
            return layer
        self.log(f"installing {len(deps)} runtime dependencies into {VENV} (pip, from PyPI)")
        began = time.monotonic()
        venv = root / VENV.lstrip("/")
        shutil.rmtree(venv, ignore_errors=True)
        resolv = root / "etc/resolv.conf"  # pip in the chroot resolves PyPI like the host does
        saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
        try:
            resolv.unlink(missing_ok=True)
            shutil.copy("/etc/resolv.conf", resolv)
            env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
            # pip reaches PyPI the way the host's pip does: same index settings, same trusted CAs
            # (a TLS-inspecting egress proxy's CA included); the bundle is removed afterwards.
            env.update({k: v for k, v in os.environ.items() if k in ("PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT")})
            host_ca = Path(os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or HOST_CA_BUNDLE)
            if host_ca.is_file():
                shutil.copy(host_ca, root / "tmp/host-ca.crt")
                env["PIP_CERT"] = "/tmp/host-ca.crt"
            _run([CHROOT, str(root), "/usr/bin/python3", "-m", "venv", VENV], env=env)
            _run([CHROOT, str(root), f"{VENV}/bin/pip", "install", "--no-cache-dir", *deps], env=env)
            script = venv / "bin/streamops"
            entry = "from streamops.cli.streamops_command import main"  # [project.scripts]' streamops
            script.write_text(f"#!{VENV}/bin/python3\nimport sys\n{entry}\nsys.exit(main())\n")
            script.chmod(0o755)
            _tar_dir(root, layer, [f"./{VENV.lstrip('/')}"])
        finally:
            (root / "tmp/host-ca.crt").unlink(missing_ok=True)
            resolv.unlink(missing_ok=True)
            if saved is not None:
                resolv.write_bytes(saved)
        self.log(f"deps layer built in {time.monotonic() - began:.0f}s ({layer.stat().st_size >> 20} MiB)")
        return layer

    def _app(self) -> tuple[Path, str]:
        """Layer with the streamops package, copied into the venv's site-packages. Refused while the
        player page's scripts are missing (`make player`): the image would serve a page that cannot
        play, and its cache key would keep it."""
        src = REPO / "operator/streamops"
        missing = missing_player_assets(src)
        if missing:
            raise VersionsError(f"the player page's {', '.join(missing)} are not in {src}: run `make player`")
        key = _tree_hash(src)
        layer = self.cache / f"app-{key}.tar"
        if not layer.exists():
            with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
                site = Path(tmp) / VENV.lstrip("/") / "lib/python3.11/site-packages"
                site.mkdir(parents=True)
                shutil.copytree(src, site / "streamops", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                if sys.version_info[:2] == (3, 11):  # same bytecode as the image's Python 3.11: workers start faster
                    _run([sys.executable, "-m", "compileall", "-q", str(site / "streamops")])
                _tar_dir(Path(tmp), layer, [f"./{VENV.lstrip('/')}"])
        return layer, key

    def _media(self, root: Path, base_key: str) -> Path:
        """Layer with the workers' FFmpeg: its libraries (as _apt_layer), ffmpeg and ffprobe in
        /usr/local/bin. (Debian's ffmpeg package made it 446 MiB.)"""
        ffmpeg_dir = worker_ffmpeg_dir()

        def add_ffmpeg(merged: Path) -> None:
            for name in ("ffmpeg", "ffprobe"):
                shutil.copy2(ffmpeg_dir / "bin" / name, merged / "usr/local/bin" / name)

        key = _hash(base_key, *MEDIA_PACKAGES, ffmpeg_dir.name, "media-v2")
        return self._apt_layer(root, "media", key, MEDIA_PACKAGES, "the worker's media layer", add_ffmpeg)

    def _chromium(self, root: Path, base_key: str) -> Path:
        """Layer with OVERLAY_PACKAGES (as _apt_layer), docs trimmed."""

        def trim_docs(merged: Path) -> None:
            for trimmed in ("usr/share/doc", "usr/share/man"):
                shutil.rmtree(merged / trimmed, ignore_errors=True)

        key = _hash(base_key, *OVERLAY_PACKAGES, "chromium-v1")
        return self._apt_layer(root, "chromium", key, OVERLAY_PACKAGES, "the overlay image's Chromium layer", trim_docs)

    def _apt_layer(
        self, root: Path, name: str, key: str, packages: Sequence[str], what: str, finish: Callable[[Path], None]
    ) -> Path:
        """Layer `<name>-<key>.tar`: `packages` apt-get installed in the base rootfs `root` seen through
        an overlay mount (the base stays as it is), then `finish` run on the merged tree; the overlay's
        upper directory, whiteouts converted, is the layer."""
        layer = self.cache / f"{name}-{key}.tar"
        if layer.exists():
            return layer
        if os.geteuid() != 0:
            raise ImageError(f"building {what} needs root (overlay mount, chroot)")
        self.log(f"installing {', '.join(packages)} into {what} (first run only)")
        began = time.monotonic()
        with tempfile.TemporaryDirectory(dir=self.cache, prefix=f"{name}-") as tmp:
            upper, work, merged = Path(tmp, "upper"), Path(tmp, "work"), Path(tmp, "merged")
            for d in (upper, work, merged):
                d.mkdir()
            _run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={root},upperdir={upper},workdir={work}",
                  str(merged)])  # fmt: skip
            try:
                _apt_install(merged, packages)
                finish(merged)
            finally:
                unmount_under(merged)
            _overlay_to_oci(upper)
            _tar_dir(upper, layer)
        self.log(f"{what} built in {time.monotonic() - began:.0f}s ({layer.stat().st_size >> 20} MiB)")
        return layer

    def _component(self, name: str, binary: Path) -> Path:
        """Layer with a static Go component (components/<name>) in /usr/local/bin: a layer of its own,
        so a change of its Go sources rebuilds a few MB, not the media layer."""
        installed = binary.name
        layer = self.cache / f"{name}-{_hash(binary.parent.parent.name, f'{name}-v1')}.tar"
        if not layer.exists():
            with tempfile.TemporaryDirectory(dir=self.cache, prefix=f"{name}-") as tmp:
                target = Path(tmp, "usr/local/bin")
                target.mkdir(parents=True)
                shutil.copy2(binary, target / installed)
                # The file only: a "." entry would give the image's / the temporary directory's 0700.
                _tar_dir(Path(tmp), layer, [f"./usr/local/bin/{installed}"])
        return layer

    def first_layers(self) -> list[Path]:
        """The layers no compiled binary goes into: the Python base and its dependencies, Chromium's
        and the edge's root filesystem. A first run builds them beside the compiles (`make
        image-layers`): debootstrap and apt are mostly downloads, ≈ 195 s that waited for every
        build when the images were made after them."""
        with self._locked("python"):
            root, base_key, layers = self._base_and_deps()
            layers.append(self._chromium(root, base_key))
        with self._locked("edge"):
            layers.append(self._edge_rootfs())
        return layers

    def _base_and_deps(self) -> tuple[Path, str, list[Path]]:
        """(base rootfs, its key, [base layer, deps layer]); under the "python" lock."""
        root, base_layer = self._base()
        base_key = base_layer.stem.removeprefix("base-")
        return root, base_key, [base_layer, self._deps(root, base_key)]

    def _python_layers(self, extra: ExtraLayers | None) -> tuple[list[Path], str]:
        """base, deps[, what `extra` adds on the base rootfs], app: the layers and a key of their content."""
        with self._locked("python"):
            root, base_key, base_layers = self._base_and_deps()
            extra_layers = extra(root, base_key) if extra is not None else []
            app_layer, app_key = self._app()
        layers = [*base_layers, *extra_layers, app_layer]
        return layers, _hash(*(layer.name for layer in layers[:-1]), app_key)

    def _python_image(self, name: str, extra: ExtraLayers | None, config: Mapping[str, object]) -> Image:
        layers, key = self._python_layers(extra)
        key = _hash(key, json.dumps(config, sort_keys=True))
        tag = f"docker.io/library/streamops-{name}:{key}"
        archive = self.cache / f"{name}-{key}.tar"
        self._archive(
            name,
            archive,
            self.cache.glob(f"{name}-*.tar"),
            lambda: write_docker_archive(archive, tag.removeprefix("docker.io/library/"), layers, config),
        )
        return Image(tag, archive)

    def worker(self) -> Image:
        """images/worker/Dockerfile: FFmpeg and the package, as uid 10001."""
        config = {
            "Entrypoint": [f"{VENV}/bin/streamops"],
            "Cmd": ["worker", "--help"],
            "Env": list(PYTHON_ENV),
            "User": f"{WORKER_UID}:{WORKER_UID}",
            "WorkingDir": "/",
        }

        def extra(root: Path, key: str) -> list[Path]:
            components = [
                self._component("webrtc", webrtc_bin()),
                self._component("rtmp", rtmp_bin()),
                self._component("relay", relay_bin()),
                self._component("readers", readers_bin()),
            ]
            return [self._media(root, key), *components]

        return self._python_image("worker", extra, config)

    def overlay(self) -> Image:
        """images/overlay/Dockerfile: the package and Chromium (no FFmpeg), as uid 10001."""
        config = {
            "Entrypoint": [f"{VENV}/bin/streamops"],
            "Cmd": ["worker", "overlay", "--help"],
            "Env": list(PYTHON_ENV),
            "User": f"{WORKER_UID}:{WORKER_UID}",
            "WorkingDir": "/",
        }
        return self._python_image("overlay", lambda root, key: [self._chromium(root, key)], config)

    def operator(self) -> Image:
        """images/operator/Dockerfile: the package on Debian's Python (no FFmpeg), as uid 10001,
        ENTRYPOINT streamops, CMD operator, the liveness port 8081 exposed."""
        config = {
            "Entrypoint": ["streamops"],
            "Cmd": ["operator"],
            "Env": list(PYTHON_ENV),
            "ExposedPorts": {"8081/tcp": {}},
            "User": f"{WORKER_UID}:{WORKER_UID}",
            "WorkingDir": "/",
        }
        return self._python_image("operator", None, config)

    # -- edge ---------------------------------------------------------------------------

    def _edge_rootfs(self) -> Path:
        """Layer: minbase bookworm with EDGE_PACKAGES (apt-get in the chroot, services forbidden),
        docs and apt's lists trimmed. Its own rootfs, not the Python base: the edge runs no Python."""
        mirror = debian_mirror()
        key = _hash(SUITE, mirror, *EDGE_PACKAGES, "edge-rootfs-v2")
        layer = self.cache / f"edge-rootfs-{key}.tar"
        if layer.exists():
            return layer
        if os.geteuid() != 0:
            raise ImageError("building the edge image's root filesystem needs root (debootstrap, chroot)")
        if not shutil.which("debootstrap"):
            raise ImageError("debootstrap not found: run `make deps`")
        self.log(f"debootstrap {SUITE} from {mirror} with {', '.join(EDGE_PACKAGES)} (first run only)")
        began = time.monotonic()
        tmp = self.cache / f"edge-rootfs-{key}.partial"
        unmount_under(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _run(["debootstrap", "--variant=minbase", SUITE, str(tmp), mirror])
        finally:
            unmount_under(tmp)
        try:
            _apt_install(tmp, EDGE_PACKAGES)
            # What nginx-common's packaging leaves that the edge never uses (it runs with -p and -c).
            for unused in ("etc/nginx/sites-enabled/default", "var/www/html/index.nginx-debian.html"):
                (tmp / unused).unlink(missing_ok=True)
            # Translations (32 MiB of the 125): nothing here speaks to a terminal.
            _empty_dirs(tmp, ("var/log/nginx", "var/lib/nginx", "usr/share/locale"))
            _tar_dir(tmp, layer)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.log(f"edge rootfs built in {time.monotonic() - began:.0f}s ({layer.stat().st_size >> 20} MiB)")
        return layer

    def _edge_files(self) -> tuple[Path, str]:
        """Layer: streamops/media/edge's files in EDGE_DIR, and the state directory nginx writes,
        owned by the edge's uid (an emptyDir replaces it in the Pod; without one it still works)."""
        src = edge_files.FILES_DIR
        key = _tree_hash(src)
        layer = self.cache / f"edge-files-{key}.tar"
        if not layer.exists():
            with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
                root = Path(tmp)
                target = root / EDGE_DIR.lstrip("/")
                target.mkdir(parents=True)
                for path in src.iterdir():
                    if path.suffix in (".lua", ".template", ".sh"):
                        shutil.copy(path, target / path.name)
                        (target / path.name).chmod(0o755 if path.suffix == ".sh" else 0o644)
                state = root / EDGE_STATE_DIR.lstrip("/")
                state.mkdir(parents=True)
                os.chown(state, edge_files.UID, edge_files.UID)
                _tar_dir(root, layer, [f"./{EDGE_DIR.lstrip('/')}", f"./{EDGE_STATE_DIR.lstrip('/')}"])
        return layer, key

    def edge(self) -> Image:
        """images/edge/Dockerfile: nginx + its Lua module + streamops/media/edge, as uid 65532,
        ENTRYPOINT the edge's entrypoint.sh (renders the config from the environment), ports 8080
        (viewers) and 8081 (probes, /viewers, /metrics)."""
        with self._locked("edge"):
            layers = [self._edge_rootfs()]
            files_layer, files_key = self._edge_files()
        layers.append(files_layer)
        config = {
            "Entrypoint": [f"{EDGE_DIR}/entrypoint.sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "ExposedPorts": {"8080/tcp": {}, "8081/tcp": {}},
            "StopSignal": EDGE_STOP_SIGNAL,
            "User": f"{edge_files.UID}:{edge_files.UID}",
            "WorkingDir": "/",
        }
        key = _hash(layers[0].name, files_key, json.dumps(config, sort_keys=True))
        tag = f"docker.io/library/streamops-edge:{key}"
        archive = self.cache / f"edge-{key}.tar"
        olds = (old for old in self.cache.glob("edge-*.tar") if re.fullmatch(r"edge-[0-9a-f]{16}\.tar", old.name))
        self._archive(  # (not the edge-rootfs/edge-files layers)
            "edge",
            archive,
            olds,
            lambda: write_docker_archive(archive, tag.removeprefix("docker.io/library/"), layers, config),
        )
        return Image(tag, archive)

    # -- add-ons: one static Go binary each -------------------------------------------------

    def _static(
        self, name: str, binary: Path, build_script: str, config: Mapping[str, object], path: str | None = None
    ) -> Image:
        """An image holding only `binary` as `path` (default /<name>), built first by hack/<build_script>
        when the cache lacks it; tagged with the hash of the binary, its path and the config."""
        if not os.access(binary, os.X_OK):
            with self._locked(name):
                if not os.access(binary, os.X_OK):
                    self.log(f"building {name} from its Go module (hack/{build_script}, first run only)")
                    proc = subprocess.run(["bash", str(REPO / "hack" / build_script)], check=False)
                    if proc.returncode != 0 or not os.access(binary, os.X_OK):
                        raise ImageError(f"hack/{build_script} did not produce {binary}")
        inside = (path or f"/{name}").lstrip("/")
        key = _hash(name, _sha256_file(binary), json.dumps(config, sort_keys=True), *([inside] if path else []))
        tag = f"docker.io/library/streamops-{name}:{key}"
        archive = self.cache / f"{name}-{key}.tar"
        if archive.exists():
            return Image(tag, archive)
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            root = Path(tmp, "rootfs")
            root.mkdir()
            (root / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(binary, root / inside)
            (root / inside).chmod(0o755)
            layer = Path(tmp, "layer.tar")
            _tar_dir(root, layer)
            write_docker_archive(archive, tag.removeprefix("docker.io/library/"), [layer], config)
        return Image(tag, archive)

    def coredns(self) -> Image:
        """CoreDNS (hack/build-coredns.sh) as uid 65532; the Deployment passes -conf."""
        config = {"Entrypoint": ["/coredns"], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        return self._static("coredns", coredns_bin(), "build-coredns.sh", config)

    def traefik(self) -> Image:
        """Traefik (hack/build-traefik.sh) as uid 65532; the Deployment passes its flags."""
        config = {"Entrypoint": ["/traefik"], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        return self._static("traefik", traefik_bin(), "build-traefik.sh", config)

    def prometheus(self) -> Image:
        """Prometheus (hack/build-prometheus.sh: upstream's, with Kubernetes service discovery, which
        Debian's package leaves out) as uid 65532; the Prometheus Operator passes its flags
        (devtools.cluster.prometheus_operator). /bin/prometheus as in upstream's image: the operator
        mounts the TSDB at /prometheus and passes only arguments."""
        config = {"Entrypoint": ["/bin/prometheus"], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        return self._static("prometheus", prometheus_bin(), "build-prometheus.sh", config, "/bin/prometheus")

    # -- the multi-node tier's real add-ons (ADDON_IMAGES) --------------------------------------

    def metrics_server(self) -> Image:
        """metrics-server (hack/build-metrics-server.sh) as uid 65532, at /metrics-server as upstream's
        image has it; devtools.cluster.metrics_server passes its flags."""
        config = {"Entrypoint": ["/metrics-server"], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        return self._static("metrics-server", metrics_server_bin(), "build-metrics-server.sh", config)

    def _cert_manager(self, component: str) -> Image:
        """One of cert-manager's binaries (hack/build-cert-manager.sh) as uid 65532; the module's chart
        passes only arguments (devtools.cluster.cert_manager)."""
        binary = cert_manager_dir() / "bin" / component
        path = f"/app/cmd/{component}/{component}"  # where upstream's images keep it
        config = {"Entrypoint": [path], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        return self._static(f"cert-manager-{component}", binary, "build-cert-manager.sh", config, path)

    def cert_manager_controller(self) -> Image:
        return self._cert_manager("controller")

    def cert_manager_webhook(self) -> Image:
        return self._cert_manager("webhook")

    def cert_manager_cainjector(self) -> Image:
        return self._cert_manager("cainjector")

    def prometheus_operator(self) -> Image:
        """The Prometheus Operator (hack/build-prometheus-operator.sh) as uid 65532, /bin/operator as
        upstream's image; devtools.cluster.prometheus_operator passes its flags."""
        config = {"Entrypoint": ["/bin/operator"], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        binary = prometheus_operator_bin_dir() / "operator"
        return self._static("prometheus-operator", binary, "build-prometheus-operator.sh", config, "/bin/operator")

    def prometheus_config_reloader(self) -> Image:
        """The config reloader the Prometheus Operator runs beside each Prometheus, at
        /bin/prometheus-config-reloader: the operator sets that path as the container's command."""
        path = "/bin/prometheus-config-reloader"
        config = {"Entrypoint": [path], "User": f"{ADDON_UID}:{ADDON_UID}", "WorkingDir": "/"}
        binary = prometheus_operator_bin_dir() / "prometheus-config-reloader"
        return self._static("prometheus-config-reloader", binary, "build-prometheus-operator.sh", config, path)

    def by_name(self, name: str) -> Image:
        """The image of IMAGES or ADDON_IMAGES called `name`."""
        if name not in IMAGES + ADDON_IMAGES:
            raise ImageError(f"unknown image {name}")
        return getattr(self, name.replace("-", "_"))()  # type: ignore[no-any-return]

    def all(self) -> list[Image]:
        return [self.pause(), self.worker(), self.operator(), self.edge(), self.coredns(), self.traefik(),
                self.prometheus()]  # fmt: skip

    def _archive(self, name: str, archive: Path, olds: Iterable[Path], write: Callable[[], None]) -> None:
        """`archive`, written unless it is there. An image's other archives go (they are the size of
        the base) once none was used for ARCHIVE_KEPT_SECONDS: another checkout's build or run (a CI
        clone beside a worktree; they share the cache) may still read its own — deleting it at once
        failed a fresh-clone CI's `make images` while a worktree built another worker."""
        with self._locked(f"{name}-archive"):
            if archive.exists():
                os.utime(archive)  # in use: kept
                return
            cutoff = time.time() - ARCHIVE_KEPT_SECONDS
            for old in olds:
                with contextlib.suppress(FileNotFoundError):
                    if old != archive and old.stat().st_mtime < cutoff:
                        old.unlink()
            write()

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        """One builder at a time per piece, across processes (parallel test sessions share the
        cache: two debootstraps into one directory would ruin both)."""
        with (self.cache / f".{what}.lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _apt_install(root: Path, packages: Sequence[str]) -> None:
    """apt-get install (no recommends, like debootstrap --include) in the rootfs at `root`, with
    the host's resolver, no service started, and apt's lists, archives and docs removed after."""
    resolv = root / "etc/resolv.conf"
    policy = root / "usr/sbin/policy-rc.d"
    # Put back exactly what the base had, so that the layer holds no change to it.
    link = os.readlink(resolv) if resolv.is_symlink() else None
    saved = resolv.read_bytes() if link is None and resolv.is_file() else None
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "DEBIAN_FRONTEND": "noninteractive"}  # fmt: skip
    env.update({k: v for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy", "no_proxy")})
    try:
        resolv.unlink(missing_ok=True)
        shutil.copy("/etc/resolv.conf", resolv)
        policy.write_text("#!/bin/sh\nexit 101\n")  # invoke-rc.d: start no daemon in the chroot
        policy.chmod(0o755)
        _run([CHROOT, str(root), "apt-get", "-q", "update"], env=env)
        _run([CHROOT, str(root), "apt-get", "-q", "-y", "--no-install-recommends", "install", *packages], env=env)
        _run([CHROOT, str(root), "apt-get", "clean"], env=env)
    finally:
        policy.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
        if link is not None:
            resolv.symlink_to(link)
        elif saved is not None:
            resolv.write_bytes(saved)
    _empty_dirs(root, ("var/lib/apt/lists", "var/cache/apt", "var/log/apt", "usr/share/doc", "usr/share/man",
                       "usr/share/info"))  # fmt: skip


def _empty_dirs(root: Path, subdirs: Sequence[str]) -> None:
    """Empty these directories of `root` (apt's lists and caches, docs), keeping them and apt's lock."""
    for sub in subdirs:
        target = root / sub
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()


def _overlay_to_oci(upper: Path) -> None:
    """Turn an overlayfs upper directory into an OCI layer's content, in place: a whiteout (a 0/0
    character device) becomes an empty `.wh.<name>`, an opaque directory gets `.wh..wh..opq`, and
    overlayfs' own trusted.overlay.* attributes go (tar --xattrs would carry them into the layer)."""
    for dirpath, dirnames, filenames in os.walk(upper):
        here = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = here / name
            st = path.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                path.unlink()
                (here / f".wh.{name}").touch()
                continue
            for attr in _xattrs(path):
                if attr == "trusted.overlay.opaque" and os.getxattr(path, attr, follow_symlinks=False) == b"y":
                    (path / ".wh..wh..opq").touch()
                if attr.startswith("trusted.overlay."):
                    os.removexattr(path, attr, follow_symlinks=False)
    for attr in _xattrs(upper):
        if attr.startswith("trusted.overlay."):
            os.removexattr(upper, attr)


def _xattrs(path: Path) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []


def _runtime_dependencies(pyproject: str) -> list[str]:
    """The [project] dependencies array of pyproject.toml."""
    import tomllib

    return list(tomllib.loads(pyproject)["project"]["dependencies"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build", help="build (or find cached) the images")
    p.add_argument("--cache", type=Path, default=None, help="cache root (default $STREAMOPS_CACHE)")
    p.add_argument(
        "names", nargs="*", metavar="NAME",
        help=f"images to build (default: all of {', '.join(IMAGES)}; by name only: {', '.join(ADDON_IMAGES)})",
    )  # fmt: skip
    sub.add_parser("layers", help="build (or find cached) the layers that need no compiled binary")
    args = parser.parse_args(argv)
    if args.cmd == "layers":
        began = time.monotonic()
        for layer in ImageBuilder().first_layers():
            print(layer)
        print(f"# layers ready in {time.monotonic() - began:.1f}s", file=sys.stderr)
        return 0
    if unknown := set(args.names) - set(IMAGES + ADDON_IMAGES):
        parser.error(f"unknown image(s) {', '.join(sorted(unknown))}: choose among {', '.join(IMAGES + ADDON_IMAGES)}")
    builder = ImageBuilder(args.cache)
    began = time.monotonic()
    try:
        images = [builder.by_name(name) for name in args.names or IMAGES]
    except (ImageError, VersionsError) as e:  # VersionsError: a pinned binary not built yet
        print(f"error: {e}", file=sys.stderr)
        return 1
    for image in images:
        print(f"{image.tag}\t{image.archive}")
    print(f"# images ready in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
