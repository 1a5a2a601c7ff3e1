"""The operator's reads of a worker's /status over a real loopback HTTP connection: a Pod several
loops follow (a stream's shared pusher) is read once a round, however many loops ask."""

from __future__ import annotations

import asyncio

from streamops.contract.pusher import PusherSetStatus
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import SharedTelemetry, TelemetryReader, http_client

from tests.unit.control.loopback_worker import LoopbackWorker

TARGETS = b'{"targets": [{"id": "uid-a", "name": "a", "version": "1", "live": true, "state": "live"}]}'


async def shared_pusher() -> tuple[LoopbackWorker, PodObservation, SharedTelemetry[PusherSetStatus]]:
    """A shared pusher's /status on 127.0.0.1, its Pod, and the one reader its loops share."""
    worker = LoopbackWorker(TARGETS)
    port = await worker.start()
    pod = PodObservation(name="cam-pusher", exists=True, uid="pod-1", phase="Running", ip="127.0.0.1", http_port=port)
    return worker, pod, SharedTelemetry(TelemetryReader(PusherSetStatus), fresh_for=30.0)


def test_the_loops_of_a_shared_pod_take_one_read_a_round_between_them():
    async def scenario() -> tuple[int, int, list[bool]]:
        worker, pod, shared = await shared_pusher()
        async with http_client() as client:
            answers = await asyncio.gather(*(shared.read(client, pod) for _ in range(10)))
            first_round = worker.requests
            shared.at -= 60  # the next round
            await shared.read(client, pod)
        worker.close()
        return first_round, worker.requests, [a is not None and a.of("uid-a") is not None for a in answers]

    first_round, total, found = asyncio.run(scenario())
    assert (first_round, total) == (1, 2), "ten loops at once: one request; the next round: one more"
    assert all(found), "each loop finds its target in the one answer"


def test_a_read_made_before_the_pod_answered_a_request_is_not_handed_out_again():
    async def scenario() -> tuple[int, int]:
        worker, pod, shared = await shared_pusher()
        async with http_client() as client:
            await shared.read(client, pod)
            answered = shared.at + 1e-6  # the Pod answered a request (a release) after that read
            await shared.read(client, pod, not_before=shared.at)  # the read is not older: handed out
            same_round = worker.requests
            await shared.read(client, pod, not_before=answered)
        worker.close()
        return same_round, worker.requests

    same_round, total = asyncio.run(scenario())
    assert (same_round, total) == (1, 2), "a read older than the answer: read again, however fresh"
