"""The reading half of the Kubernetes client: what a kind's observe (and the `*_reads` modules it
calls) may do with the API. Typed with this, a write there (create, patch, delete, a status
patch) is a mypy error, not a convention; `KubeApi` is one."""

from __future__ import annotations

import builtins
from typing import Protocol

from streamops.api.kinds import Kind
from streamops.kube.manifests import Manifest


class KubeReads(Protocol):
    def get(self, kind: str, namespace: str, name: str) -> Manifest | None: ...

    def list_in(self, kind: str, namespace: str, query: str) -> list[Manifest]: ...

    def list_metadata(self, kind: str, label_selector: str) -> list[Manifest]: ...

    def get_custom(self, kind: Kind, namespace: str, name: str) -> Manifest | None: ...

    def custom_uids(self, kind: Kind, namespace: str) -> set[str]: ...

    def stream_children(self, kind: Kind, namespace: str, stream: str) -> builtins.list[Manifest]: ...

    def nodes(self) -> builtins.list[Manifest] | None: ...
