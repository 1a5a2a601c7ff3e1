"""The actuators that POST to a running ingest against a stand-in ingest on 127.0.0.1: the overlay
switch (what it POSTs, how it signs it, one request in flight per ingest, nothing without a Pod to
send to, and what close() cancels) and the player page's settings (the worker credential alone).
(What is due is overlays.py's and player_settings.py's, test_overlays.py and test_player_settings.py;
the real ingest's answers, media/overlay and tests/unit/media/ingest/test_worker.py.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from devtools.catalog import pull, secret_data, stored_livestream
from devtools.fake_kube import FakeKubeApi
from streamops.api import LiveStream
from streamops.contract.ingest import PLAYER_SETTINGS_PATH, PlayerSettings
from streamops.contract.overlay import SWITCH_AUTH_HEADER, SWITCH_PATH, OverlaySwitch, switch_token_valid
from streamops.contract.worker_credential import AUTHORIZATION, CREDENTIAL_KEY, credential_secret_name
from streamops.control.livestream.overlay_switching import OverlaySwitcher
from streamops.control.livestream.player_settings import PlayerSettingsSender
from streamops.control.livestream.specs.secret import stream_key_ref
from streamops.control.runtime.state import OperatorState
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
    check: Callable[[Any, Ingest, PodObservation], Awaitable[None]],
    actuator: type[OverlaySwitcher | PlayerSettingsSender] = OverlaySwitcher,
    path: str = SWITCH_PATH,
) -> None:
    """`check` with the `actuator` of `stream` and a stand-in ingest taking its POSTs at `path`."""

    async def run() -> None:
        ingest = Ingest()
        app = web.Application()
        app.router.add_post(path, ingest.handle)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        state = OperatorState(api=secrets(stream), settings=OperatorSettings())
        pod = PodObservation("cam-ingest", exists=True, phase="Running", ip="127.0.0.1", http_port=server.port)
        try:
            async with aiohttp.ClientSession() as client:
                state.client = client
                switcher = actuator(state, NS, stream.metadata.name)
                await check(switcher, ingest, pod)
                ingest.release.set()
                switcher.close()
        finally:
            await server.close()
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())


def test_a_switch_is_posted_signed_with_the_stream_key_and_the_worker_credential():
    stream = stored_livestream(namespace=NS)

    async def check(switcher: OverlaySwitcher, ingest: Ingest, pod: PodObservation) -> None:
        await switcher.send(stream, {"primary": SWITCH}, {"primary": pod})
        await ingest.arrived.wait()
        ((headers, body),) = ingest.requests
        assert json.loads(body) == {"enabled": ["score"]}
        assert switch_token_valid(KEY.encode(), "cam", body, headers[SWITCH_AUTH_HEADER], time.time())
        assert headers[AUTHORIZATION] == f"Bearer {CREDENTIAL}"

    with_ingest(stream, check)


def test_one_switch_in_flight_per_ingest_and_the_next_after_it():
    stream = stored_livestream(namespace=NS)

    async def check(switcher: OverlaySwitcher, ingest: Ingest, pod: PodObservation) -> None:
        await switcher.send(stream, {"primary": SWITCH}, {"primary": pod})
        first = switcher.sending["primary"]
        await ingest.arrived.wait()
        await switcher.send(stream, {"primary": SWITCH}, {"primary": pod})  # a stuck ingest: not again
        assert switcher.sending["primary"] is first and len(ingest.requests) == 1
        ingest.release.set()
        await first
        ingest.arrived.clear()
        await switcher.send(stream, {"primary": SWITCH}, {"primary": pod})
        assert switcher.sending["primary"] is not first
        await ingest.arrived.wait()
        assert len(ingest.requests) == 2

    with_ingest(stream, check)


def test_nothing_is_sent_without_a_pod_or_a_stream():
    stream = stored_livestream(namespace=NS)

    async def check(switcher: OverlaySwitcher, ingest: Ingest, pod: PodObservation) -> None:
        await switcher.send(stream, {"backup": SWITCH}, {"primary": pod})
        await switcher.send(None, {"primary": SWITCH}, {"primary": pod})
        assert switcher.sending == {} and ingest.requests == []

    with_ingest(stream, check)


def test_a_pull_streams_switch_is_unsigned_and_close_cancels_it():
    stream = stored_livestream(namespace=NS, source=pull("rtmp://127.0.0.1/live/a"))

    async def check(switcher: OverlaySwitcher, ingest: Ingest, pod: PodObservation) -> None:
        await switcher.send(stream, {"primary": SWITCH}, {"primary": pod})
        await ingest.arrived.wait()
        ((headers, _),) = ingest.requests
        assert SWITCH_AUTH_HEADER not in headers, "a pull stream has no key to sign with"
        task = switcher.sending["primary"]
        switcher.close()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()

    with_ingest(stream, check)


def test_player_settings_are_posted_with_the_worker_credential_one_at_a_time():
    """A projection changes only a page: the internal face's worker credential is all it carries (no
    stream key read, no signature); a stuck ingest is not sent another until it answers."""
    stream = stored_livestream(namespace=NS)
    wanted = {"primary": PlayerSettings(projection="vr180")}

    async def check(sender: PlayerSettingsSender, ingest: Ingest, pod: PodObservation) -> None:
        await sender.send(wanted, {})  # no Pod to send to: nothing
        assert not sender.sending
        await sender.send(wanted, {"primary": pod})
        first = sender.sending["primary"]
        await ingest.arrived.wait()
        ((headers, body),) = ingest.requests
        assert json.loads(body) == {"projection": "vr180"}
        assert headers[AUTHORIZATION] == f"Bearer {CREDENTIAL}" and SWITCH_AUTH_HEADER not in headers
        await sender.send(wanted, {"primary": pod})  # still in flight: not again
        assert sender.sending["primary"] is first and len(ingest.requests) == 1
        ingest.release.set()
        await first
        await sender.send(wanted, {"primary": pod})  # the next tick's, while /status still differs
        await sender.sending["primary"]
        assert len(ingest.requests) == 2

    with_ingest(stream, check, PlayerSettingsSender, PLAYER_SETTINGS_PATH)
