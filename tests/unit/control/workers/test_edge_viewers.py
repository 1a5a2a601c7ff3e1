"""A stream's viewers at its namespace's edge (control/workers/edge_viewers.py): the replicas polled,
their sessions unioned with the ingest's (livestream/status.py's stream_viewers)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from devtools.catalog import stored_livestream
from streamops.contract.edge import STATUS_PORT, ViewerSessions
from streamops.contract.ingest import IngestStatus
from streamops.control.livestream.status import stream_viewers
from streamops.control.workers.edge_viewers import EdgeViewers, merge_sessions, ready_edge_pods

NS = "media"
stream = partial(stored_livestream, uid="uid-1", generation=1)


def ingest_with(sessions: dict[str, list[str]], webrtc: int = 0, truncated_counts: dict[str, int] | None = None):
    viewers: dict[str, Any] = {
        "windowSeconds": 30,
        "counts": {**{p: len(v) for p, v in sessions.items()}, "webrtc": webrtc, **(truncated_counts or {})},
        "sessions": sessions,
        "truncated": truncated_counts is not None,
    }
    return IngestStatus.model_validate({"live": True, "viewers": viewers})


def test_viewers_are_the_union_of_the_edge_replicas_and_the_ingest():
    edge = merge_sessions([{"llhls": {"a", "b"}, "hls": {"c"}}, {"hls": {"a", "d"}, "dash": {"e"}}])
    assert edge["llhls"] == {"a", "b"} and edge["hls"] == {"c", "d"}, "LL-HLS anywhere is LL-HLS"
    viewers = stream_viewers(ingest_with({"hls": ["d", "f"]}, webrtc=2), edge)
    assert viewers is not None
    assert (viewers.llhls, viewers.hls, viewers.dash, viewers.webrtc) == (2, 3, 1, 2)
    assert viewers.total == 8 and viewers.window_seconds == 30
    # A worker that listed only part of its sessions: its counts are the lower bound.
    cut = stream_viewers(ingest_with({"hls": ["x"]}, truncated_counts={"hls": 7000}), None)
    assert cut is not None and cut.hls == 7000
    assert stream_viewers(None, None).total == 0, "zeros, not nothing: the field does not come and go"
    assert stream_viewers(IngestStatus(live=True), None).total == 0, "an older worker reports no viewers"


def test_only_ready_edge_pods_are_read():
    pods = [
        {
            "metadata": {"uid": "p1"},
            "status": {"podIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "metadata": {"uid": "p2"},
            "status": {"podIP": "10.0.0.2", "conditions": [{"type": "Ready", "status": "False"}]},
        },
        {"metadata": {"uid": "p3", "deletionTimestamp": "x"}, "status": {"podIP": "10.0.0.3", "conditions": []}},
    ]
    assert ready_edge_pods(pods) == [("p1", "10.0.0.1")]


def test_edge_viewers_poll_each_replica_and_union_their_sessions() -> None:
    """EdgeViewers against two tiny real HTTP servers on 127.0.0.1 standing in for edge replicas."""
    reports = {
        "127.0.0.11": {"windowSeconds": 30, "streams": {"media/cam": {"llhls": ["a"], "hls": [], "dash": []}}},
        "127.0.0.12": {"windowSeconds": 30, "streams": {"media/cam": {"llhls": ["b"], "hls": ["a"], "dash": []}}},
    }

    async def scenario() -> dict[str, set[str]]:
        runners = []
        for address, report in reports.items():

            async def answer(_: web.Request, report: dict[str, Any] = report) -> web.Response:
                return web.json_response(report)

            app = web.Application()
            app.router.add_get("/viewers", answer)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, address, STATUS_PORT).start()
            runners.append(runner)

        async def ready(_: str) -> list[tuple[str, str]]:
            return [("u1", "127.0.0.11"), ("u2", "127.0.0.12")]

        try:
            async with aiohttp.ClientSession() as client:
                return await EdgeViewers(client, ready).sessions(NS, "cam")
        finally:
            for runner in runners:
                await runner.cleanup()

    sessions = asyncio.run(scenario())
    assert sessions["llhls"] == {"a", "b"} and sessions["hls"] == set()
    ViewerSessions.model_validate(reports["127.0.0.11"])  # the contract's shape
