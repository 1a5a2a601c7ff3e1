"""What a LiveStream loop's tick reads (control/livestream/loop_observe.py): its children from the
indexes, each ingest's /status from a stand-in ingest on 127.0.0.1, and nothing past the indexes on a
tick that is to reconcile. What is decided from it: test_decide.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import kopf
from aiohttp import web
from aiohttp.test_utils import TestServer
from devtools.catalog import livestream, secret_data, stored
from devtools.fake_kube import FakeKubeApi
from streamops.contract.worker import STATUS_PATH
from streamops.contract.worker_credential import CREDENTIAL_KEY, credential_secret_name
from streamops.control.livestream.decide import LiveStreamMemory, LiveStreamObserved, RecordingSeen
from streamops.control.livestream.loop import LIVESTREAM_LOOP, LiveStreamTick
from streamops.control.livestream.outcome import StreamOutcome
from streamops.control.runtime.indexes import BroadcastFacts, Indexes, RecordingIndexFacts
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT, STANDBY_COMPONENT
from streamops.control.workers.ingest_address import ingest_component
from streamops.control.workers.pod_observation import PodObservation

NS = "media"
STANDBY = PodObservation("cam-recorder-1", exists=True, uid="s1")
RECORDER = PodObservation("rec-recorder", exists=True, uid="r1")


def tick(
    check: Callable[[ObjectLoop[StreamOutcome], LiveStreamTick, PodObservation], Awaitable[None]],
) -> None:
    """`check` with the loop of the stream "cam", its tick over indexes that hold its ingest (a
    stand-in answering /status live), its warm recorder and a Recording with its recorder."""

    async def status(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def run() -> None:
        app = web.Application()
        app.router.add_get(STATUS_PATH, status)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        api = FakeKubeApi()
        name = credential_secret_name("cam")
        credential = secret_data(**{CREDENTIAL_KEY: "unit-test-worker-credential-0123456789"})
        api.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}} | credential)
        state = OperatorState(api=api, settings=OperatorSettings())
        ingest = PodObservation(
            "cam-ingest", exists=True, uid="p1", phase="Running", ready=True, ip="127.0.0.1", http_port=server.port
        )
        indexes = Indexes(
            pods={
                (NS, "LiveStream", "cam", ingest_component("primary")): [ingest],
                (NS, "LiveStream", "cam", STANDBY_COMPONENT): [STANDBY],
                (NS, "Recording", "rec", RECORDER_COMPONENT): [RECORDER],
            },
            streams={},
            recordings={(NS, "cam"): [RecordingIndexFacts("rec", recording=True, duration=3.0, auto=True)]},
            broadcasts={(NS, "cam"): [BroadcastFacts("show", "The show", "", "Live", "cam", ("cam", "other"))]},
        )
        obj = LiveObject(("LiveStream", NS, "cam"), kopf.Body(stored(livestream("cam"))), status={})
        loop = ObjectLoop(state, LIVESTREAM_LOOP, obj)
        try:
            async with aiohttp.ClientSession() as client:
                state.client = client
                await check(loop, LiveStreamTick(indexes), ingest)
        finally:
            loop.close()
            await server.close()
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())


def test_a_tick_that_is_to_reconcile_reads_only_the_indexes():
    async def check(loop: ObjectLoop[Any], stream: LiveStreamTick, ingest: PodObservation) -> None:
        observed = await stream.observe(loop, LiveStreamMemory())
        assert observed.facts.reconcile_due and observed.outcome is None
        assert observed.pods == {"primary": ingest} and observed.standby == STANDBY and observed.recorder_running
        assert observed.recordings == (RecordingSeen("rec", True, 3.0, True),)
        assert observed.telemetry == {} and observed.broadcasts == (), "the next tick, at once, reads them"

    tick(check)


def test_a_tick_with_an_outcome_reads_the_ingests_status_and_what_names_the_stream():
    async def check(loop: ObjectLoop[Any], stream: LiveStreamTick, ingest: PodObservation) -> None:
        loop.outcome = StreamOutcome(loop.body.metadata.get("generation"))
        observed = await stream.observe(loop, LiveStreamMemory())
        assert isinstance(observed, LiveStreamObserved) and not observed.facts.reconcile_due
        assert observed.telemetry["primary"].live
        assert [b.name for b in observed.broadcasts] == ["show"] and observed.members == {"cam": None, "other": None}
        assert observed.edge_sessions is None, "read only while viewers come through the edge"

    tick(check)


def test_an_ingest_just_created_is_observed_until_the_pod_watch_shows_it():
    async def check(loop: ObjectLoop[Any], stream: LiveStreamTick, ingest: PodObservation) -> None:
        backup = PodObservation("cam-ingest-backup", exists=True, uid="b1")
        loop.outcome = StreamOutcome(loop.body.metadata.get("generation"), created={"backup": backup})
        observed = await stream.observe(loop, LiveStreamMemory())
        assert observed.pods == {"primary": ingest, "backup": backup}

    tick(check)
