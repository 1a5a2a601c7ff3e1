"""What the status of a kind that follows a stream (Recording, Restream) is computed from: its one
worker Pod, that worker's typed /status, and its stream (from the stream index)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Self, TypeVar

from streamops.contract.worker import WorkerStatus
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.workers.pod_observation import PodObservation

S = TypeVar("S", bound=WorkerStatus)


@dataclass(frozen=True)
class FollowerObservation(Generic[S]):
    pod: PodObservation
    telemetry: S | None = None  # the worker's /status (fresh), None when unreachable
    stream_exists: bool = True
    # Media is on air: what the primary ingest serves (the feed recorders and pushers read), its own
    # or its backup's. Not merely the backup receiving media: without a primary to relay it, nothing
    # reaches the feed.
    stream_live: bool = False
    stream_backup_only: bool = False  # the backup receives media, and no primary ingest serves it
    generation: int | None = None  # the generation the reconciler acted on (default: the object's)
    restart_pending: str | None = None  # the worker waits to be idle for a restart: the first difference

    @classmethod
    def observe(
        cls, pod: PodObservation, telemetry: S | None, stream: StreamFacts | None, generation: int | None
    ) -> Self:
        """The observation from the loop's inputs (`stream` as the stream index shows it)."""
        on_air = bool(stream and (stream.live or stream.active_ingest))
        return cls(
            pod=pod,
            telemetry=telemetry,
            stream_exists=stream is not None,
            stream_live=on_air,
            stream_backup_only=bool(stream and stream.backup_live and not on_air),
            generation=generation,
        )

    def acted_generation(self, object_generation: int | None) -> int | None:
        return self.generation if self.generation is not None else object_generation
