"""The operator's reads of a worker's /status over a real loopback HTTP connection: a Pod several
loops follow (a stream's shared pusher) is read once a round, however many loops ask."""

from __future__ import annotations

import asyncio

from streamops.contract.pusher import PusherSetStatus
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.worker_client import SharedTelemetry, TelemetryReader, http_client


class Worker:
    """A /status on 127.0.0.1 that counts the requests it answered."""

    def __init__(self) -> None:
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        body = b'{"targets": [{"id": "uid-a", "name": "a", "version": "1", "live": true, "state": "live"}]}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()


def test_the_loops_of_a_shared_pod_take_one_read_a_round_between_them():
    async def scenario() -> tuple[int, int, list[bool]]:
        worker = Worker()
        port = await worker.start()
        pod = PodObservation(
            name="cam-pusher", exists=True, uid="pod-1", phase="Running", ip="127.0.0.1", http_port=port
        )
        shared = SharedTelemetry(TelemetryReader(PusherSetStatus), fresh_for=30.0)
        async with http_client() as client:
            answers = await asyncio.gather(*(shared.read(client, pod) for _ in range(10)))
            first_round = worker.requests
            shared.at -= 60  # the next round
            await shared.read(client, pod)
        assert worker.server is not None
        worker.server.close()
        return first_round, worker.requests, [a is not None and a.of("uid-a") is not None for a in answers]

    first_round, total, found = asyncio.run(scenario())
    assert (first_round, total) == (1, 2), "ten loops at once: one request; the next round: one more"
    assert all(found), "each loop finds its target in the one answer"


def test_a_read_made_before_the_pod_answered_a_request_is_not_handed_out_again():
    async def scenario() -> tuple[int, int]:
        worker = Worker()
        port = await worker.start()
        pod = PodObservation(
            name="cam-pusher", exists=True, uid="pod-1", phase="Running", ip="127.0.0.1", http_port=port
        )
        shared = SharedTelemetry(TelemetryReader(PusherSetStatus), fresh_for=30.0)
        async with http_client() as client:
            await shared.read(client, pod)
            answered = shared.at + 1e-6  # the Pod answered a request (a release) after that read
            await shared.read(client, pod, not_before=shared.at)  # the read is not older: handed out
            same_round = worker.requests
            await shared.read(client, pod, not_before=answered)
        assert worker.server is not None
        worker.server.close()
        return same_round, worker.requests

    same_round, total = asyncio.run(scenario())
    assert (same_round, total) == (1, 2), "a read older than the answer: read again, however fresh"
