"""What the status of a kind that follows a stream (Recording, Restream) is computed from: its one
worker Pod, that worker's typed /status, and its stream (from the stream index)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Self, TypeVar

from streamops.contract.worker import WorkerStatus
from streamops.control.shared.indexes import StreamFacts
from streamops.control.shared.pod_observation import PodObservation

S = TypeVar("S", bound=WorkerStatus)


@dataclass(frozen=True)
class FollowerObservation(Generic[S]):
    pod: PodObservation
    telemetry: S | None = None  # the worker's /status (fresh), None when unreachable
    stream_exists: bool = True
    stream_live: bool = False  # primary or backup ingest receives media
    generation: int | None = None  # the generation the reconciler acted on (default: the object's)

    @classmethod
    def observe(
        cls, pod: PodObservation, telemetry: S | None, stream: StreamFacts | None, generation: int | None
    ) -> Self:
        """The observation from the loop's inputs (`stream` as the stream index shows it)."""
        return cls(
            pod=pod,
            telemetry=telemetry,
            stream_exists=stream is not None,
            stream_live=bool(stream and (stream.live or stream.backup_live)),
            generation=generation,
        )

    def acted_generation(self, object_generation: int | None) -> int | None:
        return self.generation if self.generation is not None else object_generation
