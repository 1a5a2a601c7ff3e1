"""The edge's controller against the fake API (control/edge/reconcile.py): a namespace's edge tier
owned by the streams that use it, as their reconciles record it on their primary ingest Services;
routes pointing at it; its autoscaler and its claim (docs/design/playback.md)."""

from __future__ import annotations

from typing import Any

from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.contract.edge import EDGE_NAME, ROUTES_FILE
from streamops.control.edge.reconcile import EdgeOutcome, reconcile_edge
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.shared.edge_refusals import EDGE_REFUSALS
from streamops.control.shared.settings import EdgeSettings, OperatorSettings, RecordingsSettings
from streamops.kube.naming import EDGE_OWNER_ANNOTATION

NS = "media"
ROUTED = {"ingress": {"host": "tv.example"}}
EDGE = OperatorSettings(edge=EdgeSettings(enabled=True))


def put(api: FakeKubeApi, name: str, **spec: Any) -> None:
    body = livestream(name, **spec)
    body["metadata"]["namespace"] = NS
    api.add(body)


def reconcile(api: FakeKubeApi, name: str, settings: OperatorSettings = EDGE) -> EdgeOutcome:
    """The stream's reconcile, then its namespace's edge's (what the Service event starts)."""
    body = api.object("LiveStream", NS, name)
    assert body is not None
    assert reconcile_livestream(api, settings, body, None, auto_recording_exists=False).edge_rejected is None
    return reconcile_edge(api, settings, NS)


def owners(api: FakeKubeApi) -> list[str]:
    deployment = api.object("Deployment", NS, EDGE_NAME)
    assert deployment is not None
    return sorted(o["name"] for o in deployment["metadata"]["ownerReferences"])


def test_the_edge_is_shared_by_its_streams_and_goes_with_the_last_that_wants_it():
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    put(api, "stage", playback={"ingress": {"host": "tv.example", "path": "/streams/media/stage-live"}})
    put(api, "direct")  # no route: its viewers reach the ingest, the edge is not for it
    for name in ("cam", "stage", "direct"):
        reconcile(api, name)
    assert owners(api) == ["cam", "stage"]
    deployment = api.object("Deployment", NS, EDGE_NAME)
    assert deployment is not None
    assert all(not o.get("controller") for o in deployment["metadata"]["ownerReferences"]), "many owners, none rules"
    # The Service, the autoscaler and the routes are the Deployment's (the GC takes them with it).
    for kind in ("Service", "HorizontalPodAutoscaler", "ConfigMap"):
        child = api.object(kind, NS, EDGE_NAME)
        assert child is not None, kind
        assert child["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    hpa = api.object("HorizontalPodAutoscaler", NS, EDGE_NAME)
    assert hpa is not None and hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["scaleTargetRef"]["name"] == EDGE_NAME
    routes = api.object("ConfigMap", NS, EDGE_NAME)
    # Public streams (the edge strips their tokens unverified) and custom paths are listed.
    assert routes is not None
    assert routes["data"][ROUTES_FILE] == "/streams/media/cam cam public\n/streams/media/stage-live stage public\n"
    # Routes send viewers to the edge; the stream without a route keeps its ingest.
    ingress = api.object("Ingress", NS, "cam-playback")
    assert ingress is not None
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": EDGE_NAME, "port": {"name": "http"}}
    service = api.object("Service", NS, "cam-ingest")
    recorded = service["metadata"]["annotations"] if service is not None else {}
    assert recorded[EDGE_OWNER_ANNOTATION] == "/streams/media/cam public", "its path, and that it is public"
    # A second reconcile writes nothing (idempotent).
    api.clear_calls()
    reconcile(api, "cam")
    reconcile(api, "stage")
    assert [c for c in api.writes if c.result != "conflict"] == [], "(the stream key's blind create aside)"
    # stage opts out: off the owners and the routes, its route back to its ingest.
    api.modify("LiveStream", NS, "stage", {"spec": {"playback": {"edge": {"enabled": False}}}})
    reconcile(api, "stage")
    reconcile(api, "stage")
    assert owners(api) == ["cam"]
    routes = api.object("ConfigMap", NS, EDGE_NAME)
    assert routes is not None and routes["data"][ROUTES_FILE] == "/streams/media/cam cam public\n"
    stage_route = api.object("Ingress", NS, "stage-playback")
    assert stage_route is not None
    assert stage_route["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "stage-ingest"
    # The last one leaves: the edge is deleted.
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": {"edge": {"enabled": False}}}})
    reconcile(api, "cam")
    assert api.object("Deployment", NS, EDGE_NAME) is None


def test_an_upgrade_that_changes_the_edges_autoscaling_reaches_an_existing_edge():
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    reconcile(api, "cam")
    hpa = api.object("HorizontalPodAutoscaler", NS, EDGE_NAME)
    assert hpa is not None and hpa["spec"]["maxReplicas"] == EDGE.edge.max_replicas
    # What the API server adds to the spec is not ours to remove.
    api.modify("HorizontalPodAutoscaler", NS, EDGE_NAME, {"spec": {"behavior": {"scaleDown": {"policies": []}}}})
    upgraded = OperatorSettings(edge=EdgeSettings(enabled=True, max_replicas=4, target_cpu_percent=40))
    reconcile(api, "cam", upgraded)
    hpa = api.object("HorizontalPodAutoscaler", NS, EDGE_NAME)
    assert hpa is not None and hpa["spec"]["maxReplicas"] == 4
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 40
    assert hpa["spec"]["behavior"] == {"scaleDown": {"policies": []}}
    api.clear_calls()
    reconcile(api, "cam", upgraded)
    assert not [c for c in api.writes if c.kind == "HorizontalPodAutoscaler"], "written again with nothing to change"


def test_every_stream_the_edge_serves_has_a_route_line_and_an_upgrade_lists_the_others():
    """The edge serves only the streams its routes file lists (issue 37): a signed stream on its
    default path too. Lines written before that omitted it: the next reconcile of any stream lists
    every owner of the edge."""
    api = operator_view()
    put(api, "cam", playback={**ROUTED, "access": "signed"})
    reconcile(api, "cam")
    routes = api.object("ConfigMap", NS, EDGE_NAME)
    assert owners(api) == ["cam"] and routes is not None
    assert routes["data"][ROUTES_FILE] == "/streams/media/cam cam\n"
    put(api, "lobby", playback=ROUTED)
    reconcile(api, "lobby")
    routes = api.object("ConfigMap", NS, EDGE_NAME)
    assert routes is not None
    api.replace({**routes, "data": {ROUTES_FILE: "/streams/media/lobby lobby public\n"}})  # an older operator's
    reconcile(api, "lobby")
    routes = api.object("ConfigMap", NS, EDGE_NAME)
    assert routes is not None
    assert routes["data"][ROUTES_FILE] == "/streams/media/cam cam\n/streams/media/lobby lobby public\n"


def test_streams_without_the_edge_never_read_it():
    """Nor does their namespace's edge controller run: no Service records a stream that wants it."""
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    for _ in range(2):
        body = api.object("LiveStream", NS, "cam")
        assert body is not None
        reconcile_livestream(api, OperatorSettings(), body, None, auto_recording_exists=False)
    assert not [c for c in api.calls if c.kind in ("Deployment", "HorizontalPodAutoscaler", "ConfigMap")]
    service = api.object("Service", NS, "cam-ingest")
    assert service is not None and EDGE_OWNER_ANNOTATION not in service["metadata"]["annotations"]


def test_a_refused_edge_is_said_in_the_status_of_the_streams_that_want_it_and_they_keep_wanting_it():
    """The server's refusal (a quota, a policy, autoscaling/v2 not served) comes back as the edge's
    outcome; the edge loop records it (shared/edge_refusals.py) and the streams' reconciles say it."""
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    put(api, "direct")
    reconcile(api, "direct")
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    reconcile_livestream(api, EDGE, body, None, auto_recording_exists=False)
    api.fail("create", "Deployment", EDGE_NAME, status=403, body='{"message": "exceeded quota: pods"}')
    outcome = reconcile_edge(api, EDGE, NS)
    assert outcome.streams == ("cam",) and outcome.refused == f"the edge {EDGE_NAME} refused: exceeded quota: pods"
    assert api.object("Deployment", NS, EDGE_NAME) is None
    try:
        EDGE_REFUSALS.record(NS, outcome.refused)
        for name, said in (("cam", outcome.refused), ("direct", None)):
            stream = api.object("LiveStream", NS, name)
            assert stream is not None
            assert reconcile_livestream(api, EDGE, stream, None, auto_recording_exists=False).edge_rejected == said
        service = api.object("Service", NS, "cam-ingest")
        assert service is not None and EDGE_OWNER_ANNOTATION in service["metadata"]["annotations"], "still wanted"
    finally:
        EDGE_REFUSALS.record(NS, None)
    assert reconcile_edge(api, EDGE, NS) == EdgeOutcome(("cam",)), "accepted the next time"
    assert owners(api) == ["cam"]


def test_a_conflict_is_not_forced_and_the_next_look_finishes():
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    reconcile(api, "cam")
    api.modify("LiveStream", NS, "cam", {"spec": {"playback": {"ingress": {"path": "/streams/media/cam-2"}}}})
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    reconcile_livestream(api, EDGE, body, None, auto_recording_exists=False)
    api.fail("replace", "ConfigMap", EDGE_NAME, status=409)
    assert reconcile_edge(api, EDGE, NS).conflict
    assert reconcile_edge(api, EDGE, NS) == EdgeOutcome(("cam",))
    routes = api.object("ConfigMap", NS, EDGE_NAME)
    assert routes is not None and routes["data"][ROUTES_FILE] == "/streams/media/cam-2 cam public\n"


def test_the_edge_mounts_the_default_claim_read_only_only_when_videos_are_served_from_it():
    """docs/design/claim-videos.md: an edge URL for videos and a ReadWriteMany default claim; a
    ReadWriteOnce claim would hold the replicas on other nodes, and live playback with them."""
    serving = OperatorSettings(
        edge=EdgeSettings(enabled=True),
        recordings=RecordingsSettings(videos_url="https://play.example", access_mode="ReadWriteMany"),
    )
    for settings, mounted in (
        (EDGE, False),
        (
            OperatorSettings(
                edge=EdgeSettings(enabled=True), recordings=RecordingsSettings(videos_url="https://play.example")
            ),
            False,
        ),  # RWO
        (serving, True),
    ):
        api = operator_view()
        put(api, "cam", playback=ROUTED)
        reconcile(api, "cam", settings)
        deployment = api.object("Deployment", NS, EDGE_NAME)
        assert deployment is not None
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        volumes = [v for v in pod["volumes"] if v["name"] == "recordings"]
        claim = api.object("PersistentVolumeClaim", NS, "streamops-recordings")
        if not mounted:
            assert volumes == [] and claim is None, "an edge without videos is as it was"
            continue
        assert volumes == [
            {"name": "recordings", "persistentVolumeClaim": {"claimName": "streamops-recordings", "readOnly": True}}
        ]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "recordings")
        assert mount == {
            "name": "recordings",
            "mountPath": "/var/lib/streamops-edge/recordings/streamops-recordings",
            "readOnly": True,
        }
        assert claim is not None and claim["spec"]["accessModes"] == ["ReadWriteMany"], "made before the Pods"
