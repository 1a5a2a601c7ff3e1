"""The operator's side of the playback plane (docs/design/playback.md): a namespace's edge tier owned
by the streams that use it, routes pointing at it, the playback keys Secret and its mount for signed
streams, and viewer counts unioned from the edge replicas and the ingest."""

from __future__ import annotations

import asyncio
import base64
import json
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from devtools.catalog import livestream, stored_livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.contract.edge import EDGE_NAME, ROUTES_FILE, STATUS_PORT, ViewerSessions
from streamops.contract.ingest import CONFIG_ENV, PLAYBACK_KEYS_DIR, IngestConfig, IngestStatus
from streamops.contract.playback_token import CURRENT_KEY, KEY_BYTES, KEYS_SECRET
from streamops.control.livestream.edge import nginx_cache_size
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.status import stream_viewers
from streamops.control.shared.settings import EdgeSettings, OperatorSettings, PlaybackSettings, RecordingsSettings
from streamops.control.workers.edge_viewers import EdgeViewers, merge_sessions, ready_edge_pods
from streamops.kube.naming import EDGE_OWNER_ANNOTATION

NS = "media"
ROUTED = {"ingress": {"host": "tv.example"}}
EDGE = OperatorSettings(edge=EdgeSettings(enabled=True))


def put(api: FakeKubeApi, name: str, **spec: Any) -> None:
    body = livestream(name, **spec)
    body["metadata"]["namespace"] = NS
    api.add(body)


def reconcile(api: FakeKubeApi, name: str, settings: OperatorSettings = EDGE) -> Any:
    body = api.object("LiveStream", NS, name)
    assert body is not None
    return reconcile_livestream(api, settings, body, None, auto_recording_exists=False)


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
        assert reconcile(api, name).edge_rejected is None
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
    assert service is not None and service["metadata"]["annotations"][EDGE_OWNER_ANNOTATION] == "true"
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
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    reconcile(api, "cam", OperatorSettings())
    reconcile(api, "cam", OperatorSettings())
    assert not [c for c in api.calls if c.kind in ("Deployment", "HorizontalPodAutoscaler", "ConfigMap")]


def test_the_edge_pod_is_restricted_and_carries_what_the_edge_reads():
    api = operator_view()
    put(api, "cam", playback=ROUTED)
    reconcile(api, "cam", OperatorSettings(edge=EdgeSettings(enabled=True, cache_size="512Mi", replicas=3)))
    deployment = api.object("Deployment", NS, EDGE_NAME)
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STREAMOPS_EDGE_NAMESPACE"] == NS and env["STREAMOPS_EDGE_CACHE_SIZE"] == "471859k"
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False, "the edge talks to no API server"
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")
    assert keys["secret"] == {"secretName": KEYS_SECRET, "optional": True}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert {p["containerPort"] for p in container["ports"]} == {8080, 8081}


def test_nginx_cache_size_leaves_room_in_its_directory():
    assert nginx_cache_size("256Mi") == "235929k"
    assert nginx_cache_size("1Gi") == "943718k"


def test_a_signed_stream_gets_the_namespaces_keys_once_and_its_ingest_mounts_them():
    api = operator_view()
    put(api, "cam", playback={"access": "signed"})
    put(api, "other", playback={"access": "signed"})
    reconcile(api, "cam", OperatorSettings())
    secret = api.object("Secret", NS, KEYS_SECRET)
    assert secret is not None
    first = secret["data"][CURRENT_KEY]
    assert len(base64.b64decode(first)) == KEY_BYTES
    assert not secret["metadata"].get("ownerReferences"), "tokens outlive the streams"
    reconcile(api, "other", OperatorSettings())
    assert api.object("Secret", NS, KEYS_SECRET)["data"][CURRENT_KEY] == first  # type: ignore[index]
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None
    [container] = pod["spec"]["containers"]
    config = IngestConfig.model_validate_json(next(e["value"] for e in container["env"] if e["name"] == CONFIG_ENV))
    assert config.playback is not None and config.playback.access == "signed"
    assert config.playback.keys_dir == PLAYBACK_KEYS_DIR and config.playback.namespace == NS
    assert {"name": "playback-keys", "mountPath": PLAYBACK_KEYS_DIR, "readOnly": True} in container["volumeMounts"]


def test_the_chart_default_signs_and_a_public_stream_keeps_its_configuration():
    api = operator_view()
    put(api, "cam")
    reconcile(api, "cam", OperatorSettings(playback=PlaybackSettings(access="signed")))
    assert api.object("Secret", NS, KEYS_SECRET) is not None
    api2 = operator_view()
    put(api2, "cam")
    reconcile(api2, "cam", OperatorSettings())
    assert api2.object("Secret", NS, KEYS_SECRET) is None
    pod = api2.object("Pod", NS, "cam-ingest")
    assert pod is not None
    env = next(e["value"] for e in pod["spec"]["containers"][0]["env"] if e["name"] == CONFIG_ENV)
    assert "playback" not in json.loads(env), "a public stream's configuration (its Pod's hash) is what it was"


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
