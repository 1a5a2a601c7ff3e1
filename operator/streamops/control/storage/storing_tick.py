"""The tick of a kind whose worker stores videos (Recording, Clip), as runtime/tick.py runs it: the
reads its observe shares (the indexes, the worker's telemetry reader, the quota check), its own actions
performed (S3 deletions in an API thread, the stream's client fields on Events), and what the
deletions did kept for the next observe (a decide learns an action's result only by observing it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from streamops.api.recording import S3Storage, Video
from streamops.contract.worker import WorkerStatus
from streamops.control.runtime.indexes import Indexes
from streamops.control.runtime.object_loop import ObjectLoop, OutcomeT
from streamops.control.runtime.tick import KindTick
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.retention import ExpiryFailed, delete_origins, delete_videos
from streamops.control.storage.retention_policy import Deleted, DeleteOrigins, DeleteVideos
from streamops.control.storage.storage_quota import QuotaCheck
from streamops.control.storage.storing_decide import CarryClientFields
from streamops.control.workers.worker_client import TelemetryReader
from streamops.kube.client import KubeApi

log = logging.getLogger("streamops.operator")
ObservedT = TypeVar("ObservedT")
MemoryT = TypeVar("MemoryT")
S = TypeVar("S", bound=WorkerStatus)


@dataclass
class Reads(Generic[S]):
    """What one loop's observe reads with: the indexes, its worker's telemetry reader, its quota
    check (reads the indexes at most every QUOTA_CHECK_SECONDS), and what its deletions did since
    the last observe (taken by it)."""

    indexes: Indexes
    reader: TelemetryReader[S]
    quota: QuotaCheck = field(default_factory=QuotaCheck)
    videos_deleted: list[Deleted] = field(default_factory=list)
    origins_deleted: list[Deleted] = field(default_factory=list)

    def take_deleted(self) -> tuple[tuple[Deleted, ...], tuple[Deleted, ...]]:
        """What the videos' and the originals' deletions did since the last call."""
        taken = (tuple(self.videos_deleted), tuple(self.origins_deleted))
        self.videos_deleted.clear()
        self.origins_deleted.clear()
        return taken


class StoringTick(KindTick[OutcomeT, ObservedT, MemoryT], Generic[OutcomeT, S, ObservedT, MemoryT]):
    """A KindTick (runtime/tick.py) from a kind's observe, decide and memory."""

    def __init__(
        self,
        reads: Reads[S],
        observe: Callable[[ObjectLoop[OutcomeT], Reads[S]], Awaitable[ObservedT]],
        decide: Callable[[ObservedT, MemoryT], tuple[Sequence[object], MemoryT]],
        memory: Callable[[], MemoryT],
    ) -> None:
        self.reads, self._observe, self._decide, self._memory = reads, observe, decide, memory

    def memory(self) -> MemoryT:
        return self._memory()

    async def observe(self, loop: ObjectLoop[OutcomeT], memory: MemoryT) -> ObservedT:
        return await self._observe(loop, self.reads)

    def decide(self, observed: ObservedT, memory: MemoryT) -> tuple[Sequence[object], MemoryT]:
        return self._decide(observed, memory)

    async def perform(self, loop: ObjectLoop[OutcomeT], action: object) -> None:
        match action:
            case DeleteVideos() | DeleteOrigins():
                state = loop.state
                delete = delete_videos if isinstance(action, DeleteVideos) else delete_origins
                result = await state.call(_deleted, delete, state.api, state.settings, loop.namespace, action)
                if result.failed is not None:
                    what = "videos" if isinstance(action, DeleteVideos) else "originals"
                    log.warning("%s %s/%s: deleting expired %s failed: %s", *loop.key, what, result.failed)
                kept = self.reads.videos_deleted if isinstance(action, DeleteVideos) else self.reads.origins_deleted
                kept.append(result)
                loop.woken.set()  # (the next tick marks them, or says why not)
            case CarryClientFields(fields=fields):
                loop.client_annotations = dict(fields)
            case _:
                raise TypeError(f"not an action of a storing kind: {action!r}")

    def close(self, loop: ObjectLoop[OutcomeT]) -> None:
        """Nothing held beside the loop."""


def _deleted(
    delete: Callable[[KubeApi, OperatorSettings, str, S3Storage, Sequence[Video]], list[str]],
    api: KubeApi,
    settings: OperatorSettings,
    namespace: str,
    action: DeleteVideos | DeleteOrigins,
) -> Deleted:
    """What `delete` did (blocking: in an API thread)."""
    try:
        return Deleted(tuple(delete(api, settings, namespace, action.s3, action.videos)))
    except ExpiryFailed as e:
        return Deleted(tuple(e.done), str(e)[:1000])
