"""The edge's plan (control/edge/plan.py), a row at a time: the namespace's streams that want the edge
(as their primary ingest Services record it) and the edge as it is -> its children."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from streamops.api.playback_policy import PlaybackRules
from streamops.contract.edge import EDGE_NAME, ROUTES_FILE, RULES_UNAVAILABLE
from streamops.control.edge.observation import EdgeObserved, EdgeStream
from streamops.control.edge.plan import autoscaler_update, plan_edge, routes_update
from streamops.control.edge.specs import edge_autoscaler, edge_deployment
from streamops.control.shared.settings import EdgeSettings, OperatorSettings, RecordingsSettings
from streamops.kube.naming import EDGE_OWNER_ANNOTATION, SPEC_HASH_ANNOTATION

NS = "media"
EDGE = OperatorSettings(edge=EdgeSettings(enabled=True))


def stream(name: str, path: str | None = None, public: bool = True, legacy: bool = False) -> EdgeStream:
    route = None if legacy else (path or f"/streams/{NS}/{name}", public)
    return EdgeStream(name, f"uid-{name}", "streaming.streamops.dev/v1alpha1", route)


def deployment(*owners: str, settings: OperatorSettings = EDGE, hash_: str | None = None) -> dict[str, Any]:
    """The Deployment as the API server holds it, owned by `owners`."""
    made = edge_deployment(NS, settings, [stream(o).owner() for o in owners])
    made["metadata"] |= {"uid": "edge-uid", "resourceVersion": "7"}
    if hash_ is not None:
        made["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = hash_
    return made


def routes(text: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": EDGE_NAME, "namespace": NS}, "data": {ROUTES_FILE: text}}


@dataclass(frozen=True)
class Row:
    why: str
    streams: tuple[EdgeStream, ...]
    current: dict[str, Any] | None = None  # the Deployment read
    routes_read: dict[str, Any] | None = None
    settings: OperatorSettings = field(default_factory=lambda: EDGE)
    # expected:
    owners: tuple[str, ...] | None = None  # the owners of the Deployment written (None: none written)
    lines: dict[str, str] = field(default_factory=dict)
    delete: bool = False
    claim: str | None = None


ROWS = (
    Row("nothing wants it, there is none: nothing to do", ()),
    Row("the first stream: the edge is made, owned by it", (stream("cam"),), owners=("cam",),
        lines={"/streams/media/cam": "cam public"}),
    Row("a custom path, a signed stream (its token checked at the edge)",
        (stream("cam", public=False), stream("stage", "/streams/media/stage-live")), owners=("cam", "stage"),
        lines={"/streams/media/cam": "cam", "/streams/media/stage-live": "stage public"}),
    Row("as it is: nothing written", (stream("cam"),), current=deployment("cam"), owners=None,
        lines={"/streams/media/cam": "cam public"}),
    Row("a second stream joins: kept owners first, then it", (stream("a"), stream("cam")),
        current=deployment("cam"), owners=("cam", "a"),
        lines={"/streams/media/a": "a public", "/streams/media/cam": "cam public"}),
    Row("one leaves: off the owners", (stream("cam"),), current=deployment("cam", "stage"), owners=("cam",),
        lines={"/streams/media/cam": "cam public"}),
    Row("the last one left: the edge is deleted", (), current=deployment("cam"), delete=True),
    Row("a settings change (the template's hash): written over", (stream("cam"),),
        current=deployment("cam", hash_="old"), owners=("cam",), lines={"/streams/media/cam": "cam public"}),
    Row("recorded by an older operator: its line kept as the file has it", (stream("cam", legacy=True),),
        current=deployment("cam"), routes_read=routes("/streams/media/cam-x cam\n/streams/media/gone gone public\n"),
        lines={"/streams/media/cam-x": "cam"}),
    Row("recorded by an older operator, no line yet: its default path", (stream("cam", legacy=True),),
        current=deployment("cam"), routes_read=routes(""), lines={"/streams/media/cam": "cam"}),
    Row("videos served from a shared claim: made before the Pods that mount it", (stream("cam"),),
        settings=OperatorSettings(
            edge=EdgeSettings(enabled=True),
            recordings=RecordingsSettings(videos_url="https://play.example", access_mode="ReadWriteMany"),
        ),
        owners=("cam",), lines={"/streams/media/cam": "cam public"}, claim="streamops-recordings"),
)  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[row.why for row in ROWS])
def test_the_edge_is_planned_from_the_streams_that_want_it(row: Row) -> None:
    observed = EdgeObserved(NS, row.streams, row.current, routes=row.routes_read)
    plan = plan_edge(observed, row.settings)
    assert plan.streams == tuple(s.name for s in row.streams)
    written = plan.deployment
    assert (None if written is None else tuple(o["name"] for o in written["metadata"]["ownerReferences"])) == row.owners
    if written is not None:
        assert all(not o.get("controller") for o in written["metadata"]["ownerReferences"]), "many owners, none rules"
        if row.current is not None:
            assert written["metadata"]["resourceVersion"] == "7", "written over the one read (PUT)"
            assert written["spec"]["replicas"] == row.current["spec"]["replicas"], "the autoscaler's number stays"
    assert plan.routes == row.lines
    assert (plan.delete == "edge-uid") if row.delete else plan.delete is None
    assert plan.claim == row.claim


def test_a_stream_records_the_edge_on_its_primary_service() -> None:
    owner = {"apiVersion": "streaming.streamops.dev/v1alpha1", "kind": "LiveStream", "name": "cam", "uid": "u1"}
    service = {"metadata": {"annotations": {EDGE_OWNER_ANNOTATION: "/p public"}, "ownerReferences": [
        {**owner, "controller": True}]}}  # fmt: skip
    assert EdgeStream.of(service) == EdgeStream("cam", "u1", owner["apiVersion"], ("/p", True))
    assert EdgeStream.of(service).owner() == {**owner, "blockOwnerDeletion": False}  # type: ignore[union-attr]
    legacy = {"metadata": {**service["metadata"], "annotations": {EDGE_OWNER_ANNOTATION: "true"}}}
    assert EdgeStream.of(legacy) == EdgeStream("cam", "u1", owner["apiVersion"], None)
    assert EdgeStream.of({"metadata": {**service["metadata"], "annotations": {}}}) is None
    assert EdgeStream.of({"metadata": {**service["metadata"], "deletionTimestamp": "now"}}) is None


def test_only_what_the_operator_sets_of_the_autoscaler_is_compared_and_written() -> None:
    desired = edge_autoscaler(deployment("cam"), EDGE.edge)
    current = {**desired, "spec": {**desired["spec"], "behavior": {"scaleDown": {"policies": []}}}}
    assert autoscaler_update(current, desired) is None, "what the API server adds is not ours to remove"
    upgraded = edge_autoscaler(deployment("cam"), EdgeSettings(enabled=True, max_replicas=4))
    update = autoscaler_update(current, upgraded)
    assert update is not None and update["spec"]["maxReplicas"] == 4 and "behavior" in update["spec"]
    assert routes_update(routes("/a a\n"), {"/a": "a"}) is None
    assert routes_update(routes(""), {"/a": "a"}) == routes("/a a\n")


def test_each_served_stream_naming_a_policy_has_its_rules_beside_the_routes() -> None:
    """The rules of the policy each stream names become `<stream>.rules` in the routes ConfigMap (the
    kubelet swaps it whole: a route and its rules change together); a missing policy refuses the
    stream's viewers; a stream the edge does not serve, or that names none, has no file."""
    observed = EdgeObserved(
        NS,
        (stream("cam"), stream("stage"), stream("plain")),
        deployment("cam", "stage", "plain"),
        routes_read := routes("/streams/media/cam cam public\n"),
        rules={
            "cam": PlaybackRules(
                denied_cidrs=["192.0.2.0/24"], allowed_referrers=["example.com"], allow_no_referrer=False
            ),
            "stage": None,
            "gone": PlaybackRules(),
        },
    )
    plan = plan_edge(observed, EDGE)
    assert plan.rules == {
        "cam.rules": "deny-cidr 192.0.2.0/24\nallow-referrer example.com\nno-referrer deny\n",
        "stage.rules": RULES_UNAVAILABLE,
    }
    written = routes_update(routes_read, plan.routes, plan.rules)
    assert written is not None and written["data"]["cam.rules"] == plan.rules["cam.rules"]
    assert routes_update(written, plan.routes, plan.rules) is None, "as it is: nothing written"
    assert routes_update(written, plan.routes, {})["data"].keys() == {ROUTES_FILE}, "a policy dropped: its file goes"
