"""The command lines' API client: the operator's own KubeApi (plain JSON over one keep-alive HTTPS
connection per thread), logged in as kubectl would be, from $KUBECONFIG (or ~/.kube/config) and its
current context, else a Pod's service account. Reads are a GET or a LIST each; a command that needs
several issues them at once from threads (status). The namespace and the LiveStream a verb names
are read here for both command lines (namespace_of(), get_stream())."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from streamops.cli.command_error import CommandError

if TYPE_CHECKING:
    from streamops.api.kinds import Kind
    from streamops.kube.client import KubeApi

Manifest = dict[str, Any]
T = TypeVar("T")


def connect(kubeconfig: str | None = None) -> KubeApi:
    """A client for the current context of `kubeconfig` ($KUBECONFIG when None)."""
    with without_kubernetes_clients():
        import kopf

        from streamops.kube.client import KubeApi, login

    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig  # also for a `kubectl port-forward` started later
    try:
        return KubeApi(login())
    except (kopf.LoginError, OSError, KeyError, ValueError) as e:
        raise CommandError(f"no usable kubeconfig ({type(e).__name__}: {e})") from None


@contextlib.contextmanager
def without_kubernetes_clients() -> Iterator[None]:
    """Around the import of kopf (whose login functions KubeApi uses): kopf imports the `kubernetes`
    and `kubernetes_asyncio` clients when installed, 0.8 s of the 2.1 s of CPU a `streamops playback
    url` took, and a command uses neither (as the operator does, cli/operator.py). Hidden for the
    import only: a process that imports them later (a test's) still can."""
    hidden = [name for name in ("kubernetes", "kubernetes_asyncio") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def namespace_of(api: KubeApi, given: str | None) -> str:
    return given or api.info.default_namespace or "default"


def custom_path(kind: Kind, namespace: str | None) -> str:
    """The collection of `kind` in `namespace`, or in every namespace (None)."""
    from streamops.api.common import GROUP, VERSION

    where = f"namespaces/{namespace}/" if namespace else ""
    return f"/apis/{GROUP}/{VERSION}/{where}{kind.plural}"


def list_custom(api: KubeApi, kind: Kind, namespace: str | None) -> list[Manifest]:
    """Every object of `kind` in `namespace` (None: all namespaces) in one unpaginated LIST, served
    from the API server's watch cache (resourceVersion=0): no quorum read of etcd, which for 1,000
    LiveStreams took 0.90 s against 0.16 s from the cache (docs/design/kubectl-plugin.md). The cache
    trails etcd by the watch's delay (milliseconds); the statuses it holds are rewritten every few
    seconds anyway."""
    answer = api.request("GET", f"{custom_path(kind, namespace)}?resourceVersion=0")
    return list((answer or {}).get("items") or [])


def get_stream(api: KubeApi, namespace: str, name: str) -> Manifest:
    from streamops.api import LIVESTREAM

    stream = api.get_custom(LIVESTREAM, namespace, name)
    if stream is None:
        raise CommandError(f"livestream {name} not found in namespace {namespace}")
    return stream


def at_once(calls: Sequence[Callable[[], T]]) -> list[T]:
    """The calls' results, the calls made concurrently (each thread has its own connection)."""
    if len(calls) == 1:
        return [calls[0]()]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]
