#!/usr/bin/env python3
"""Container images for the local node, built without Docker or a registry.

    python -m devtools.images build [--cache DIR]     # prints the image tarballs and their tags

Two images, written as docker-archive tarballs that `ctr -n k8s.io images import` loads:

- **pause** (the sandbox image containerd needs): one static binary compiled from a few lines
  of C, sleeping until a signal ends it.
- **worker**: the same content as images/worker/Dockerfile, in three layers built from a
  Debian bookworm root filesystem:
  1. base: `debootstrap --variant=minbase` from the Debian mirror apt already uses, with
     python3, python3-venv and ffmpeg;
  2. deps: a venv in /opt/streamops with the project's runtime dependencies from PyPI (pinned in
     operator/pyproject.toml), installed with the rootfs's own Python, plus the `streamops` script;
  3. app: the `streamops` package itself (operator/streamops/).

Every piece is cached under $STREAMOPS_CACHE/images keyed by a hash of its inputs, so a warm
run only re-tars the app layer when the package changed, and does nothing otherwise. The image
tag carries the content hash (streamops-worker:<hash>), so a running cluster never confuses an
old image with a new one.

Needs root (debootstrap, chroot), debootstrap, gcc with a static libc, tar.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devtools.versions import REPO, cache_dir

SUITE = "bookworm"
# What the worker needs at run time (the Dockerfile installs the same).
BASE_PACKAGES = ("python3", "python3-venv", "ffmpeg", "ca-certificates")
WORKER_UID = 10001
VENV = "/opt/streamops"
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


class ImageError(RuntimeError):
    pass


@dataclass(frozen=True)
class Image:
    tag: str  # as containerd names it after import, e.g. docker.io/library/streamops-worker:abc
    archive: Path

    @property
    def short(self) -> str:
        """The name a Pod spec uses (no docker.io/library/ prefix)."""
        return self.tag.removeprefix("docker.io/library/")


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
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        stage = Path(tmp)
        (stage / config_name).write_bytes(config_bytes)
        (stage / "manifest.json").write_text(json.dumps(manifest))
        for layer, name in zip(layers, layer_names, strict=True):
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            os.link(layer, stage / name) if layer.stat().st_dev == stage.stat().st_dev else shutil.copy(
                layer, stage / name
            )
        tmp_out = out.with_suffix(".tmp")
        _run(["tar", "-C", str(stage), "--dereference", "-cf", str(tmp_out), "."])
        tmp_out.replace(out)


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
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"):
            target = tmp / sub
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    elif child.name != "lock":
                        child.unlink()
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
        key = _hash(base_key, *deps, "deps-v1")
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
            script.write_text(f"#!{VENV}/bin/python3\nimport sys\nfrom streamops.cli import main\nsys.exit(main())\n")
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
        """Layer with the streamops package, copied into the venv's site-packages."""
        src = REPO / "operator/streamops"
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

    def worker(self) -> Image:
        root, base_layer = self._base()
        base_key = base_layer.stem.removeprefix("base-")
        deps_layer = self._deps(root, base_key)
        app_layer, app_key = self._app()
        key = _hash(base_layer.name, deps_layer.name, app_key)
        tag = f"docker.io/library/streamops-worker:{key}"
        archive = self.cache / f"worker-{key}.tar"
        if not archive.exists():
            for old in self.cache.glob("worker-*.tar"):
                old.unlink()  # one worker archive at a time: they are the size of the base
            config = {
                "Entrypoint": [f"{VENV}/bin/streamops"],
                "Cmd": ["worker", "--help"],
                "Env": [
                    f"PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME=/tmp",
                    "PYTHONDONTWRITEBYTECODE=1",
                    "PYTHONUNBUFFERED=1",
                ],
                "User": f"{WORKER_UID}:{WORKER_UID}",
                "WorkingDir": "/",
            }
            write_docker_archive(
                archive, tag.removeprefix("docker.io/library/"), [base_layer, deps_layer, app_layer], config
            )
        return Image(tag, archive)


def _runtime_dependencies(pyproject: str) -> list[str]:
    """The [project] dependencies array of pyproject.toml."""
    import tomllib

    return list(tomllib.loads(pyproject)["project"]["dependencies"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build", help="build (or find cached) the pause and worker images")
    p.add_argument("--cache", type=Path, default=None, help="cache root (default $STREAMOPS_CACHE)")
    args = parser.parse_args(argv)
    builder = ImageBuilder(args.cache)
    began = time.monotonic()
    try:
        images = [builder.pause(), builder.worker()]
    except ImageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for image in images:
        print(f"{image.tag}\t{image.archive}")
    print(f"# images ready in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
