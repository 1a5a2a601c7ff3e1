"""The generic status loop (runtime/object_loop.py): what a reconcile is handed."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from streamops.api.kinds import RECORDING
from streamops.api.recording import RecordingStatus
from streamops.control.runtime.object_loop import KindLoop, ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject, kept
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings

FINAL = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Stopped", "message": ""}]}


class Outcome:
    generation = 1
    invalid_spec = None


def test_a_reconcile_sees_the_status_the_loop_last_wrote_not_the_events():
    """Kept bodies carry no status (object_tasks.kept); a Recording's reconcile must still see its
    final status right after the loop wrote it, or its recorder Pod is never removed."""
    seen: list[Any] = []

    def reconcile(api: object, settings: object, body: dict[str, Any], allocator: object, **_: object) -> Outcome:
        seen.append(body["status"])
        return Outcome()

    async def scenario() -> None:
        event = {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "Recording",
            "metadata": {"name": "rec", "namespace": "media", "uid": "r", "generation": 1},
            "spec": {"streamRef": {"name": "cam"}},
            "status": {"phase": "Recording"},
        }
        obj = LiveObject(("Recording", "media", "rec"), kept(kopf.Body(event)), status=event["status"])
        state = OperatorState(api=None, settings=OperatorSettings())  # type: ignore[arg-type]
        kind = KindLoop(api=RECORDING, reconcile=reconcile, status_model=RecordingStatus, metric_fields=frozenset())
        loop = ObjectLoop(state, kind, obj)
        await loop.reconcile()
        loop.writer.written = FINAL  # what its write left (the status event may come later)
        await loop.reconcile()
        assert seen == [{"phase": "Recording"}, FINAL]
        loop.close()
        state.executor.shutdown()
        state.status_executor.shutdown()

    asyncio.run(scenario())
