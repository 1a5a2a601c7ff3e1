"""Commands the status loop POSTs to a LiveStream's running ingests (the overlay switch, the player
page's settings): one request in flight per ingest, never awaited by the tick (a stuck ingest holds
up nothing; its next /status shows whether a command took, and the next tick sends it again if not),
each presenting the stream's worker credential; close() cancels what is in flight when the loop ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TypeVar

from streamops.contract.ingest import Role
from streamops.contract.worker import WorkerConfig
from streamops.control.runtime.state import OperatorState
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import post

C = TypeVar("C", bound=WorkerConfig)


class IngestPosts:
    """One per stream loop and command."""

    def __init__(self, state: OperatorState, namespace: str, name: str) -> None:
        self.state, self.namespace, self.name = state, namespace, name
        self.sending: dict[Role, asyncio.Task[None]] = {}  # the POST in flight, per ingest

    def due(
        self, commands: Mapping[Role, C], pods: Mapping[Role, PodObservation]
    ) -> dict[Role, tuple[PodObservation, C]]:
        """Each command whose ingest has a Pod and no POST of this kind still in flight."""
        return {
            role: (pod, command)
            for role, command in commands.items()
            if (pod := pods.get(role)) is not None and ((sending := self.sending.get(role)) is None or sending.done())
        }

    async def post(
        self,
        due: Mapping[Role, tuple[PodObservation, WorkerConfig]],
        path: str,
        sign: Callable[[bytes], dict[str, str]] | None = None,
    ) -> None:
        """POST each of `due` to `path` on its ingest (`sign`: headers that sign the body, if any)."""
        if self.state.client is None or not due:
            return
        auth = await self.state.worker_headers(self.namespace, self.name)
        for role, (pod, command) in due.items():
            self.sending[role] = asyncio.get_running_loop().create_task(
                post(self.state.client, pod, path, command, sign, auth)
            )

    def close(self) -> None:
        for task in self.sending.values():
            task.cancel()
