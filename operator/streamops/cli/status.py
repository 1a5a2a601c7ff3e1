"""`kubectl streamops status [NAME] [-n NS] [-A]`: one stream on one screen, or a table of all.

Everything comes from the objects' status, as the operator writes it (no Pod, no worker, no
kubectl subprocess). The table is one LIST of LiveStreams and, at the same time on a second
connection, one LIST of Restreams of the same scope: a stream's restream states live on the
Restreams only, and one concurrent LIST costs the same wall time as none, where a GET per stream
would cost a round trip each (docs/design/kubectl-plugin.md). One stream: a GET of it and LISTs of
the namespace's Recordings and Restreams, the three at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from streamops.cli.command_error import CommandError
from streamops.cli.kube_connection import Manifest, at_once, get_stream, list_custom
from streamops.cli.render import Unreadable, status_screen, status_table

if TYPE_CHECKING:
    from streamops.kube.client import KubeApi

M = TypeVar("M", bound=BaseModel)


def read(model: type[M], raw: Manifest) -> M | Unreadable:
    meta = raw.get("metadata") or {}
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Unreadable(meta.get("namespace", ""), meta.get("name", "?"), f"{where}: {first['msg']}")


def stream_of(raw: Manifest) -> tuple[str, str]:
    return (
        (raw.get("metadata") or {}).get("namespace", ""),
        ((raw.get("spec") or {}).get("streamRef") or {}).get("name", ""),
    )


def all_streams(api: KubeApi, namespace: str | None) -> str:
    """The table for `namespace` (None: every namespace); empty without any stream."""
    from streamops.api import LIVESTREAM, RESTREAM
    from streamops.api.kinds import LiveStream, Restream

    calls: list[Callable[[], list[Manifest]]] = [
        lambda: list_custom(api, LIVESTREAM, namespace),
        lambda: list_custom(api, RESTREAM, namespace),
    ]
    raw_streams, raw_restreams = at_once(calls)
    streams = [read(LiveStream, s) for s in raw_streams]
    by_stream: dict[tuple[str, str], list[Restream]] = {}
    for raw in raw_restreams:
        restream = read(Restream, raw)
        if isinstance(restream, Restream):
            by_stream.setdefault(stream_of(raw), []).append(restream)
    return status_table(streams, by_stream, all_namespaces=namespace is None)


def one_stream(api: KubeApi, namespace: str, name: str) -> str:
    from streamops.api import RECORDING, RESTREAM
    from streamops.api.kinds import LiveStream, Recording, Restream

    calls: list[Callable[[], Any]] = [
        lambda: get_stream(api, namespace, name),
        lambda: list_custom(api, RECORDING, namespace),
        lambda: list_custom(api, RESTREAM, namespace),
    ]
    raw_stream, raw_recordings, raw_restreams = at_once(calls)
    stream = read(LiveStream, raw_stream)
    if isinstance(stream, Unreadable):
        raise CommandError(
            f"livestream {name} cannot be read by this plugin ({stream.error}): is it older than the operator?"
        )
    recordings = [
        r
        for raw in raw_recordings
        if stream_of(raw) == (namespace, name) and isinstance(r := read(Recording, raw), Recording)
    ]
    restreams = [
        t
        for raw in raw_restreams
        if stream_of(raw) == (namespace, name) and isinstance(t := read(Restream, raw), Restream)
    ]
    return status_screen(stream, recordings, restreams, datetime.now(UTC))
