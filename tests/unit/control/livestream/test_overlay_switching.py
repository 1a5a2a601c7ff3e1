"""The actuators that POST to a running ingest against a stand-in ingest on 127.0.0.1: the overlay
switch (what it POSTs, how it signs it, one request in flight per ingest, and what the loop's close()
cancels) and the player page's settings as a WorkerRequest (the worker credential alone). (What is
due is decide.py's, test_decide.py; the real ingest's answers, media/overlay and
tests/unit/media/ingest/test_worker.py.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import kopf
from aiohttp import web
from aiohttp.test_utils import TestServer
from devtools.catalog import livestream, pull, secret_data, stored, stored_livestream
from devtools.fake_kube import FakeKubeApi
from streamops.api import LiveStream
from streamops.contract.ingest import PLAYER_SETTINGS_PATH, PlayerSettings
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, OverlaySwitch, switch_token_valid
from streamops.contract.worker_credential import AUTHORIZATION, CREDENTIAL_KEY, credential_secret_name
from streamops.control.livestream.decide import SwitchOverlays
from streamops.control.livestream.loop import LIVESTREAM_LOOP
from streamops.control.livestream.overlay_switching import switch_overlays
from streamops.control.livestream.specs.secret import stream_key_ref
from streamops.control.runtime.decisions import WorkerRequest
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.runtime.tick import request
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation

NS = "media"
KEY = "the-stream-key-0123456789"
CREDENTIAL = "unit-test-worker-credential-0123456789"
SWITCH = OverlaySwitch(enabled=["score"])


class Ingest:
    """POST /overlays as an ingest takes it: each request kept; answered once `release` is set."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        self.arrived.set()
        await self.release.wait()
        return web.Response(status=204)


def secrets(stream: LiveStream) -> FakeKubeApi:
    api = FakeKubeApi()
    ref = stream_key_ref(stream)
    if ref is not None:
        api.add(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": ref.name, "namespace": NS}}
            | secret_data(**{ref.key: KEY})
        )
    name = credential_secret_name(stream.metadata.name)
    api.add(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}}
        | secret_data(**{CREDENTIAL_KEY: CREDENTIAL})
    )
    return api


def with_ingest(
    stream: LiveStream,
    check: Callable[[ObjectLoop[Any], Ingest, PodObservation], Awaitable[None]],
    path: str = SWITCH_PATH,
) -> None:
    """`check` with the loop of `stream` and a stand-in ingest taking its POSTs at `path`."""

    async def run() -> None:
        ingest = Ingest()
        app = web.Application()
        app.router.add_post(path, ingest.handle)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        state = OperatorState(api=secrets(stream), settings=OperatorSettings())
        pod = PodObservation("cam-ingest", exists=True, phase="Running", ip="127.0.0.1", http_port=server.port)
        obj = LiveObject(("LiveStream", NS, "cam"), kopf.Body(stored(livestream("cam"))), status={})
        loop = ObjectLoop(state, LIVESTREAM_LOOP, obj)
        try:
            async with aiohttp.ClientSession() as client:
                state.client = client
                await check(loop, ingest, pod)
                ingest.release.set()
                loop.close()
        finally:
            await server.close()
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())


def switch(stream: LiveStream, pod: PodObservation, role: str = "primary") -> SwitchOverlays:
    """What decide.py asks for (its own tests: test_decide.py)."""
    return SwitchOverlays("cam", stream_key_ref(stream), ((f"overlays/{role}", pod, SWITCH),))


def test_a_switch_is_posted_signed_with_the_stream_key_and_the_worker_credential():
    stream = stored_livestream(namespace=NS)

    async def check(loop: ObjectLoop[Any], ingest: Ingest, pod: PodObservation) -> None:
        await switch_overlays(loop, switch(stream, pod))
        await ingest.arrived.wait()
        ((headers, body),) = ingest.requests
        assert json.loads(body) == {"enabled": ["score"]}
        assert switch_token_valid(KEY.encode(), "cam", body, headers[SWITCH_AUTH_HEADER], time.time())
        assert headers[AUTHORIZATION] == f"Bearer {CREDENTIAL}"

    with_ingest(stream, check)


def test_one_switch_in_flight_per_ingest_and_the_next_after_it():
    stream = stored_livestream(namespace=NS)

    async def check(loop: ObjectLoop[Any], ingest: Ingest, pod: PodObservation) -> None:
        await switch_overlays(loop, switch(stream, pod))
        first = loop.sending["overlays/primary"]
        await ingest.arrived.wait()
        await switch_overlays(loop, switch(stream, pod))  # a stuck ingest: not again
        assert loop.sending["overlays/primary"] is first and len(ingest.requests) == 1
        assert loop.in_flight() == {"overlays/primary"}
        ingest.release.set()
        await first
        ingest.arrived.clear()
        await switch_overlays(loop, switch(stream, pod))
        assert loop.sending["overlays/primary"] is not first
        await ingest.arrived.wait()
        assert len(ingest.requests) == 2

    with_ingest(stream, check)


def test_a_pull_streams_switch_is_unsigned_and_close_cancels_it():
    stream = stored_livestream(namespace=NS, source=pull("rtmp://127.0.0.1/live/a"))

    async def check(loop: ObjectLoop[Any], ingest: Ingest, pod: PodObservation) -> None:
        await switch_overlays(loop, switch(stream, pod))
        await ingest.arrived.wait()
        ((headers, _),) = ingest.requests
        assert SWITCH_AUTH_HEADER not in headers, "a pull stream has no key to sign with"
        task = loop.sending["overlays/primary"]
        loop.close()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()

    with_ingest(stream, check)


def test_player_settings_are_posted_with_the_worker_credential_one_at_a_time():
    """A projection changes only a page: the internal face's worker credential is all it carries (no
    stream key read, no signature); a stuck ingest is not sent another until it answers."""
    stream = stored_livestream(namespace=NS)
    body = json.dumps(PlayerSettings(projection="vr180").wire()).encode()

    async def check(loop: ObjectLoop[Any], ingest: Ingest, pod: PodObservation) -> None:
        wanted = WorkerRequest(pod, "POST", PLAYER_SETTINGS_PATH, "cam", "player-settings/primary", body)
        await request(loop, wanted)
        first = loop.sending["player-settings/primary"]
        await ingest.arrived.wait()
        ((headers, sent),) = ingest.requests
        assert json.loads(sent) == {"projection": "vr180"}
        assert headers[AUTHORIZATION] == f"Bearer {CREDENTIAL}" and SWITCH_AUTH_HEADER not in headers
        await request(loop, wanted)  # still in flight: not again
        assert loop.sending["player-settings/primary"] is first and len(ingest.requests) == 1
        ingest.release.set()
        await first
        await request(loop, wanted)  # the next tick's, while /status still differs
        await loop.sending["player-settings/primary"]
        assert len(ingest.requests) == 2

    with_ingest(stream, check, PLAYER_SETTINGS_PATH)
