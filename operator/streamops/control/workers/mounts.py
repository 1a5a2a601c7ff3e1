"""A worker Pod's volume and where its worker container mounts it, as one entry: the Pod's volumes,
the container's mounts and the paths the worker's configuration names are all read off the same
entries, so a file the configuration names is never left unmounted (or mounted for nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streamops.contract.playback_token import KEYS_SECRET
from streamops.kube.manifests import Manifest

PLAYBACK_KEYS_VOLUME = "playback-keys"


@dataclass(frozen=True)
class Mount:
    """`volume`: the Pod's volume (its name included); `directory`: where the worker container mounts
    it (None: a volume of a sidecar only); `read_only`: mounted read-only."""

    volume: Manifest
    directory: str | None
    read_only: bool = True

    @property
    def name(self) -> str:
        return str(self.volume["name"])

    @property
    def path(self) -> str:
        """Where the worker reads this volume."""
        assert self.directory is not None, f"volume {self.name} is not mounted in the worker's container"
        return self.directory

    def file(self, name: str) -> str:
        """The path of a file of this volume as the worker reads it."""
        return f"{self.path}/{name}"

    def container_mount(self) -> Manifest | None:
        if self.directory is None:
            return None
        mount: Manifest = {"name": self.name, "mountPath": self.directory}
        if self.read_only:
            mount["readOnly"] = True
        return mount


def file_in(mount: Mount | None, name: str) -> str | None:
    """The path of `name` in `mount`, None without the mount: what a configuration field says."""
    return mount.file(name) if mount is not None else None


def directory_of(mount: Mount | None) -> str | None:
    return mount.directory if mount is not None else None


def pod_volumes(mounts: Iterable[Mount]) -> list[Manifest]:
    return [m.volume for m in mounts]


def container_mounts(mounts: Iterable[Mount]) -> list[Manifest]:
    return [mount for m in mounts if (mount := m.container_mount()) is not None]


def playback_keys_mount(directory: str) -> Mount:
    """The playback signing keys (the operator's KEYS_SECRET), the directory, not files: a rotation (a
    new `current`, the old one as `previous`) reaches the running worker. Not optional: the operator
    creates the Secret before the Pod. Group-readable only: fsGroup makes the worker's group own it."""
    volume = {"name": PLAYBACK_KEYS_VOLUME, "secret": {"secretName": KEYS_SECRET, "defaultMode": 0o440}}
    return Mount(volume, directory)
