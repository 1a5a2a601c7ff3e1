"""A handover's Pod writes (handover_writes.py: the ingest's, the recorder's, the pusher's) against
the fake of our API adapter: a patch carries the Pod's uid (the API server refuses a uid change:
never another Pod of the name), a deletion is preconditioned on it, and a failed write ends nothing
(the next tick decides again). The decisions: each kind's test_handover.py; the real API server:
tests/cluster/test_handover.py and test_worker_handover.py."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from devtools.catalog import livestream, stored
from devtools.fake_kube import FakeKubeApi
from streamops.control.livestream.loop import LIVESTREAM_LOOP
from streamops.control.runtime.handover_steps import DeletePod, PatchPod
from streamops.control.runtime.handover_writes import delete_pod, handover_write
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.handover_marks import serve_patch
from streamops.control.workers.pod_observation import PodObservation

NS = "media"


def with_loop(api: FakeKubeApi, check: Any) -> None:
    async def run() -> None:
        state = OperatorState(api=api, settings=OperatorSettings())
        obj = LiveObject(("LiveStream", NS, "cam"), kopf.Body(stored(livestream("cam"))), status={})
        loop = ObjectLoop(state, LIVESTREAM_LOOP, obj)
        try:
            await check(loop)
        finally:
            loop.close()
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())


def pod(api: FakeKubeApi, name: str) -> PodObservation:
    body = api.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {}}})
    return PodObservation.of(name, body)


def test_a_patch_carries_the_pods_uid_and_a_deletion_is_preconditioned_on_it() -> None:
    api = FakeKubeApi()
    successor, predecessor = pod(api, "cam-ingest-b"), pod(api, "cam-ingest")

    async def check(loop: ObjectLoop[Any]) -> None:
        await handover_write(loop, PatchPod(successor, serve_patch()))
        await handover_write(loop, DeletePod(predecessor))
        await handover_write(loop, DeletePod(predecessor))  # gone already: fine

    with_loop(api, check)
    [patch] = [c.body for c in api.writes if c.verb == "patch"]
    assert patch == {"metadata": {"labels": {"streaming.streamops.dev/serving": "true"}, "uid": successor.uid}}
    assert (api.object("Pod", NS, "cam-ingest-b") or {})["metadata"]["labels"]["streaming.streamops.dev/serving"]
    assert api.object("Pod", NS, "cam-ingest") is None


def test_a_deletion_of_another_pod_of_the_name_is_refused_and_the_tick_goes_on() -> None:
    api = FakeKubeApi()
    old = pod(api, "cam-ingest")
    api.delete("Pod", NS, "cam-ingest")
    pod(api, "cam-ingest")  # the name taken again (the next handover's successor)

    async def check(loop: ObjectLoop[Any]) -> None:
        await delete_pod(loop, DeletePod(old))

    with_loop(api, check)
    assert api.object("Pod", NS, "cam-ingest") is not None, "not the Pod decided about"
