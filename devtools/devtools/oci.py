"""OCI image layouts (image-spec v1.1) from the image builder's docker-archives, for registries.

    store = BlobStore(cache / "images" / "oci")
    layouts = store.write_layouts([(image.archive, store.root / "streamops-worker-<hash>", "0.1.0")])
    layouts[0].manifest.digest  # what a registry will serve for the image, byte for byte

devtools.cluster.images writes docker-archives (uncompressed layers, what `ctr images import`
loads). A registry wants compressed layers and an OCI manifest: each layer is gzipped once (level 6,
no name, no time: the same bytes on every run), the blob cached by its diff_id, and every image gets
a layout directory of its own (`oci-layout`, `index.json` naming one manifest, `blobs/sha256/`
hard links into the shared store), which is what `crane push DIR REF` takes. The config blob is
the archive's own, unchanged: the image's ID (its config digest) is the same in a node's containerd
after an import and in any registry after a push. Why this format: docs/design/publishing.md.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
# zlib's default: 159 MiB of the base layer -> 55 MiB in 7.1 s here (level 1: 61 MiB in 2.5 s). Paid
# once per layer: every pull of every user gets the smaller one.
GZIP_LEVEL = 6
CHUNK = 1 << 20


class OciError(RuntimeError):
    pass


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str  # sha256:<hex>
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Layout:
    """One image's OCI layout directory and what is in it."""

    path: Path
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]

    @property
    def size(self) -> int:
        """Bytes a pull downloads: config and compressed layers."""
        return self.config.size + sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class _Archive:
    """What a docker-archive holds: its config bytes and each layer's member name and diff_id."""

    path: Path
    config: bytes
    layers: tuple[tuple[str, str], ...]  # (member name, diff_id)


def read_docker_archive(archive: Path) -> _Archive:
    with tarfile.open(archive) as tar:
        names = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        manifest = json.loads(_read_member(tar, names, "manifest.json"))
        if len(manifest) != 1:
            raise OciError(f"{archive}: {len(manifest)} images in one archive, expected 1")
        config = _read_member(tar, names, manifest[0]["Config"])
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    layers = tuple(manifest[0]["Layers"])
    if len(diff_ids) != len(layers):
        raise OciError(f"{archive}: {len(layers)} layers but {len(diff_ids)} diff_ids")
    return _Archive(archive, config, tuple(zip(layers, diff_ids, strict=True)))


def _read_member(tar: tarfile.TarFile, names: dict[str, tarfile.TarInfo], name: str) -> bytes:
    member = names.get(name.removeprefix("./"))
    f = tar.extractfile(member) if member is not None else None
    if f is None:
        raise OciError(f"{tar.name!r} has no {name}")
    return f.read()


def gzip_stream(src: IO[bytes], dst: IO[bytes]) -> tuple[str, str, int]:
    """gzip `src` into `dst` (level GZIP_LEVEL; the header has no name and time 0, so equal input
    gives equal output). Returns (sha256 of the input, sha256 of the output, output size)."""
    raw, packed = hashlib.sha256(), hashlib.sha256()
    size = 0
    deflate = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip wrapper
    while chunk := src.read(CHUNK):
        raw.update(chunk)
        out = deflate.compress(chunk)
        packed.update(out)
        dst.write(out)
        size += len(out)
    out = deflate.flush()
    packed.update(out)
    dst.write(out)
    size += len(out)
    return f"sha256:{raw.hexdigest()}", f"sha256:{packed.hexdigest()}", size


class BlobStore:
    """Blobs under `root`/blobs/sha256, the gzipped layer of each diff_id remembered in
    `root`/gzip/<hex>, and the layouts as directories beside them (hard links to the blobs, so a
    layer shared by several images is stored once)."""

    def __init__(self, root: Path, log: Any = None) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.index = root / "gzip"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.index.mkdir(parents=True, exist_ok=True)
        self._log = log if callable(log) else (lambda _msg: None)

    def blob_path(self, digest: str) -> Path:
        return self.blobs / digest.removeprefix("sha256:")

    def put(self, data: bytes) -> str:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        path = self.blob_path(digest)
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return digest

    def compressed(self, diff_id: str) -> Descriptor | None:
        """The gzipped blob of the layer with this diff_id, when the store has it."""
        try:
            digest, size = (self.index / diff_id.removeprefix("sha256:")).read_text().split()
        except (OSError, ValueError):
            return None
        if not self.blob_path(digest).exists():
            return None
        return Descriptor(LAYER_TYPE, digest, int(size))

    def compress(self, archive: Path, member: str, diff_id: str) -> Descriptor:
        """Gzip one layer of a docker-archive into the store (checking its diff_id on the way)."""
        with tarfile.open(archive) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            found = members.get(member.removeprefix("./"))
            src = tar.extractfile(found) if found is not None else None
            if src is None:
                raise OciError(f"{archive} has no layer {member}")
            with tempfile.NamedTemporaryFile(dir=self.blobs, delete=False) as tmp:
                try:
                    raw, digest, size = gzip_stream(src, tmp)
                except BaseException:
                    os.unlink(tmp.name)
                    raise
        if raw != diff_id:
            os.unlink(tmp.name)
            raise OciError(f"{archive}: layer {member} hashes to {raw}, its config says {diff_id}")
        os.chmod(tmp.name, 0o644)  # NamedTemporaryFile's 0600: readable like the other blobs
        os.replace(tmp.name, self.blob_path(digest))
        (self.index / diff_id.removeprefix("sha256:")).write_text(f"{digest} {size}\n")
        return Descriptor(LAYER_TYPE, digest, size)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time across processes (parallel test sessions and make share the cache)."""
        with (self.root / ".lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def write_layouts(
        self, images: Sequence[tuple[Path, Path, str]], annotations: dict[str, str] | None = None
    ) -> list[Layout]:
        """For each (docker-archive, layout directory, ref name): the layout, written anew (its
        blobs only compressed when the store lacks them, side by side on every core)."""
        archives = [read_docker_archive(archive) for archive, _, _ in images]
        with self.locked():
            missing: dict[str, tuple[Path, str]] = {}
            for a in archives:
                for member, diff_id in a.layers:
                    if self.compressed(diff_id) is None:
                        missing.setdefault(diff_id, (a.path, member))
            if missing:
                self._log(f"gzipping {len(missing)} layer(s) for the registry (once per layer)")
                with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                    done = [pool.submit(self.compress, path, member, d) for d, (path, member) in missing.items()]
                    for future in done:
                        future.result()
            return [
                self._write_layout(a, out, ref, annotations or {})
                for a, (_, out, ref) in zip(archives, images, strict=True)
            ]

    def _write_layout(self, archive: _Archive, out: Path, ref_name: str, annotations: dict[str, str]) -> Layout:
        config = Descriptor(CONFIG_TYPE, self.put(archive.config), len(archive.config))
        layers = []
        for _, diff_id in archive.layers:
            layer = self.compressed(diff_id)
            if layer is None:
                raise OciError(f"layer {diff_id} vanished from {self.root}")
            layers.append(layer)
        manifest_doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
        if annotations:
            manifest_doc["annotations"] = dict(sorted(annotations.items()))
        manifest_bytes = json.dumps(manifest_doc, separators=(",", ":")).encode()
        manifest = Descriptor(MANIFEST_TYPE, self.put(manifest_bytes), len(manifest_bytes))
        platform = json.loads(archive.config)
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [
                {
                    **manifest.to_json(),
                    "platform": {"architecture": platform["architecture"], "os": platform["os"]},
                    "annotations": {REF_NAME: ref_name},
                }
            ],
        }
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{out.name}-"))
        try:
            (tmp / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
            (tmp / "index.json").write_text(json.dumps(index, indent=1))
            blobs = tmp / "blobs" / "sha256"
            blobs.mkdir(parents=True)
            for d in (manifest, config, *layers):
                target = blobs / d.digest.removeprefix("sha256:")
                if not target.exists():
                    os.link(self.blob_path(d.digest), target)
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        diff_ids = tuple(d for _, d in archive.layers)
        return Layout(out, manifest, config, tuple(layers), diff_ids)

    def prune(self, keep: Sequence[Path]) -> int:
        """Keep one layout per image, as the builder keeps one archive per image: remove each other
        `<repository>-<hash>` directory beside a kept `<repository>-<hash>`, then every blob no layout
        links to any more (a hard link count of 1) and its gzip entry. Returns the bytes freed."""
        freed = 0
        with self.locked():
            for kept in keep:
                m = re.fullmatch(r"(.+)-[0-9a-f]{16}", kept.name)
                if m is None:
                    continue
                for other in self.root.glob(f"{m.group(1)}-*"):
                    if other != kept and re.fullmatch(r"[0-9a-f]{16}", other.name[len(m.group(1)) + 1 :]):
                        shutil.rmtree(other, ignore_errors=True)
            for blob in self.blobs.iterdir():
                st = blob.stat()
                if st.st_nlink == 1:
                    freed += st.st_size
                    blob.unlink()
            for entry in self.index.iterdir():
                with contextlib.suppress(OSError, ValueError):
                    digest, _ = entry.read_text().split()
                    if not self.blob_path(digest).exists():
                        entry.unlink()
        return freed
