"""The namespace's edge loops (control/edge/tasks.py, loop.py) against the fake API: started by the first ingest
Service that records a stream wanting the edge, not woken by Service events that change nothing of
that record, telling its streams when the server's answer changed, ended once the edge is gone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import kopf
from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api.common import API_VERSION
from streamops.api.kinds import PLAYBACK_POLICY
from streamops.contract.edge import EDGE_NAME, RULES_UNAVAILABLE
from streamops.control.edge.tasks import EdgeLoops
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.edge_refusals import EDGE_REFUSALS
from streamops.control.shared.settings import EdgeSettings, OperatorSettings

NS = "edge-loop"
EDGE = OperatorSettings(edge=EdgeSettings(enabled=True))


def stream_reconciled(api: FakeKubeApi, name: str) -> kopf.Body:
    """The stream reconciled; its primary ingest Service's body, as its watch event brings it."""
    body = api.object("LiveStream", NS, name)
    assert body is not None
    reconcile_livestream(api, EDGE, body, None, auto_recording_exists=False)
    service = api.object("Service", NS, f"{name}-ingest")
    assert service is not None
    return kopf.Body(service)


async def until(probe: Callable[[], object], what: str) -> None:
    """Polls the fake's state (the loop's work runs in the API threads): a bound, not a figure."""
    try:
        async with asyncio.timeout(10):
            while not probe():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within 10 s: {what}") from None


def test_the_edge_loop_comes_with_a_record_looks_on_changes_and_ends_with_the_edge() -> None:
    api = operator_view()
    body = livestream("cam", playback={"ingress": {"host": "tv.example"}})
    body["metadata"]["namespace"] = NS
    api.add(body)
    state = OperatorState(api=api, settings=EDGE)

    async def scenario() -> None:
        loops = EdgeLoops(state)
        try:
            api.fail("create", "Deployment", EDGE_NAME, status=403, body='{"message": "exceeded quota"}')
            loops.observe_service("ADDED", stream_reconciled(api, "cam"))
            await until(lambda: EDGE_REFUSALS.of(NS), "the refusal recorded")
            assert state.take_reconcile_request(("LiveStream", NS, "cam")), "its stream reconciles to say it"
            api.clear_calls()
            loops.observe_service("MODIFIED", stream_reconciled(api, "cam"))  # the same record: not woken
            await asyncio.sleep(0.05)
            assert not [c for c in api.calls if c.kind == "Deployment"]
            loops.wake(NS)  # (the resync's look)
            await until(lambda: api.object("Deployment", NS, EDGE_NAME), "the edge, accepted this time")
            await until(lambda: EDGE_REFUSALS.of(NS) is None, "the refusal lifted")
            api.modify("LiveStream", NS, "cam", {"spec": {"playback": {"edge": {"enabled": False}}}})
            loops.observe_service("MODIFIED", stream_reconciled(api, "cam"))
            await until(lambda: api.object("Deployment", NS, EDGE_NAME) is None, "the edge deleted")
            await until(lambda: not loops._tasks, "the loop ended")
        finally:
            await loops.close()
            EDGE_REFUSALS.record(NS, None)

    try:
        asyncio.run(scenario())
    finally:
        state.executor.shutdown(wait=False, cancel_futures=True)
        state.status_executor.shutdown(wait=False, cancel_futures=True)


def test_a_stream_naming_a_policy_wakes_its_edge_which_writes_the_policy_s_rules() -> None:
    api = operator_view()
    body = livestream("cam", playback={"ingress": {"host": "tv.example"}})
    body["metadata"]["namespace"] = NS
    api.add(body)
    policy = {"apiVersion": API_VERSION, "kind": "PlaybackPolicy", "metadata": {"name": "p", "namespace": NS}}
    api.add({**policy, "spec": {"deniedCIDRs": ["192.0.2.0/24"]}})
    state = OperatorState(api=api, settings=EDGE)

    def rules() -> str | None:
        found = api.object("ConfigMap", NS, EDGE_NAME)
        return ((found or {}).get("data") or {}).get("cam.rules")

    async def scenario() -> None:
        loops = EdgeLoops(state)
        try:
            loops.observe_service("ADDED", stream_reconciled(api, "cam"))
            await until(lambda: api.object("ConfigMap", NS, EDGE_NAME), "the edge's routes")
            assert rules() is None, "no policy named: no rules file"
            api.modify("LiveStream", NS, "cam", {"spec": {"playback": {"policyRef": {"name": "p"}}}})
            stream = api.object("LiveStream", NS, "cam")
            loops.observe_stream("MODIFIED", kopf.Body(stream or {}))
            await until(lambda: rules() == "deny-cidr 192.0.2.0/24\n", "the policy's rules beside the routes")
            api.clear_calls()
            loops.observe_stream("MODIFIED", kopf.Body(stream or {}))  # (a status write: the same policy)
            await asyncio.sleep(0.05)
            assert not [c for c in api.calls if c.kind == "Service"], "not woken"
            api.delete_custom(PLAYBACK_POLICY, NS, "p")
            loops.wake(NS, start=False)  # (the policy's event, handlers.py)
            await until(lambda: rules() == RULES_UNAVAILABLE, "a missing policy refuses the stream's viewers")
        finally:
            await loops.close()

    try:
        asyncio.run(scenario())
    finally:
        state.executor.shutdown(wait=False, cancel_futures=True)
        state.status_executor.shutdown(wait=False, cancel_futures=True)
