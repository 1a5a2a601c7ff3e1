"""kopf's reads of worker Pods, Services and EndpointSlices, trimmed while decoded: the operator sees
what it read before (PodObservation, the indexes' entries), through a real aiohttp client and
server on 127.0.0.1 and kopf's own line splitter."""

from __future__ import annotations

import asyncio
import copy
import http.server
import json
import threading
from typing import Any

import aiohttp
import kopf
from aiohttp import web
from devtools.catalog import stored_livestream, stored_recording
from kopf._cogs.clients.api import iter_jsonlines
from streamops.api.kinds import RECORDING
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.runtime.indexes import child_entry, worker_pod_entry
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.client import METADATA_LIST, KubeApi
from streamops.kube.trimmed_reads import TrimmedResponse, trimmed_loads, uid_only

MANAGED = [{"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {"f:phase": {}}}}]


def worker_pod() -> dict[str, Any]:
    """A recorder Pod as the operator builds it, as the API server shows it running."""
    pod = recorder_pod(stored_recording(), stored_livestream(uid="stream-uid", generation=1), OperatorSettings())
    pod = json.loads(json.dumps(pod))
    pod["metadata"].update(uid="pod-uid", resourceVersion="7", namespace="media", managedFields=MANAGED)
    pod["spec"]["nodeName"] = "node-b"
    pod["status"] = {
        "phase": "Running",
        "podIP": "10.244.1.7",
        "podIPs": [{"ip": "10.244.1.7"}],
        "hostIP": "10.0.0.2",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "recorder", "restartCount": 2, "state": {"running": {}}}],
    }
    return pod


def test_a_pod_decoded_trimmed_is_observed_and_indexed_as_the_whole_one():
    pod = worker_pod()
    text = json.dumps({"kind": "PodList", "items": [pod]})
    (trimmed,) = trimmed_loads(text)["items"]
    assert "managedFields" not in trimmed["metadata"] and "volumes" not in trimmed["spec"]
    assert PodObservation.of("p", trimmed) == PodObservation.of("p", pod)
    assert worker_pod_entry(trimmed) == worker_pod_entry(pod) != {}
    assert child_entry(trimmed) == child_entry(pod)
    assert trimmed["metadata"] == {k: v for k, v in pod["metadata"].items() if k != "managedFields"}
    assert len(json.dumps(trimmed["spec"])) < len(json.dumps(pod["spec"])) / 5


def test_lists_and_watches_of_pods_come_trimmed_other_lists_without_managed_fields():
    pod, stream = worker_pod(), stored_livestream(uid="stream-uid", generation=1).model_dump(by_alias=True)
    stream["metadata"]["managedFields"] = MANAGED
    events = [{"type": "ADDED", "object": pod}, {"type": "MODIFIED", "object": pod}]

    async def pods(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            return web.json_response({"kind": "PodList", "items": [pod]})
        response = web.StreamResponse()
        await response.prepare(request)
        line = "".join(json.dumps(e) + "\n" for e in events).encode()
        for i in range(0, len(line), 1000):  # lines cut across chunks
            await response.write(line[i : i + 1000])
        return response

    async def livestreams(request: web.Request) -> web.Response:
        return web.json_response({"kind": "LiveStreamList", "items": [stream]})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/media/pods", pods)
        app.router.add_get("/apis/streaming.streamops.dev/v1alpha1/livestreams", livestreams)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(response_class=TrimmedResponse) as session:
                async with session.get(f"{base}/api/v1/namespaces/media/pods") as r:
                    (listed,) = (await r.json())["items"]
                async with session.get(f"{base}/api/v1/namespaces/media/pods", params={"watch": "true"}) as r:
                    watched = [json.loads(line) async for line in iter_jsonlines(r.content, chunk_size=700)]
                async with session.get(f"{base}/apis/streaming.streamops.dev/v1alpha1/livestreams") as r:
                    (other,) = (await r.json())["items"]
        finally:
            await runner.cleanup()
        expected = trimmed_loads(json.dumps(pod))
        assert listed == expected and "volumes" not in listed["spec"]
        assert [e["type"] for e in watched] == ["ADDED", "MODIFIED"]
        assert [e["object"] for e in watched] == [expected, expected]
        whole = json.loads(json.dumps(stream))
        del whole["metadata"]["managedFields"]
        assert other == whole, "a LiveStream comes whole but for its managedFields"

    asyncio.run(scenario())


def test_a_service_keeps_its_spec_and_status_and_loses_its_managed_fields():
    service = {
        "kind": "Service",
        "metadata": {"name": "cam-ingest", "namespace": "media", "uid": "s", "managedFields": MANAGED},
        "spec": {"type": "NodePort", "ports": [{"name": "rtmp", "port": 1935, "nodePort": 31935}]},
        "status": {"loadBalancer": {}},
    }
    trimmed = trimmed_loads(json.dumps(service))
    whole = copy.deepcopy(service)
    del whole["metadata"]["managedFields"]
    assert trimmed == whole and child_entry(trimmed) == child_entry(service)


def test_the_sweeps_listing_is_decoded_to_the_uids_alone():
    """KubeApi.custom_uids (the vanished-object sweep) against a real HTTP server on 127.0.0.1."""
    owner = {"apiVersion": "streaming.streamops.dev/v1alpha1", "kind": "LiveStream", "name": "cam", "uid": "s"}
    items = [
        {
            "kind": "PartialObjectMetadata",
            "metadata": {
                "name": f"rec-{i}",
                "uid": f"u{i}",
                "ownerReferences": [owner],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
                "managedFields": MANAGED,
            },
        }
        for i in range(3)
    ]
    listing = json.dumps({"kind": "PartialObjectMetadataList", "items": items}).encode()
    asked: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append((self.path, self.headers.get("Accept")))
            self.send_response(200)
            self.send_header("Content-Length", str(len(listing)))
            self.end_headers()
            self.wfile.write(listing)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        api = KubeApi(kopf.ConnectionInfo(server=f"http://127.0.0.1:{server.server_port}"))
        assert api.custom_uids(RECORDING, "media") == {"u0", "u1", "u2"}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert asked == [("/apis/streaming.streamops.dev/v1alpha1/namespaces/media/recordings", METADATA_LIST)]
    assert json.loads(listing, object_hook=uid_only)["items"][0] == {
        "kind": "PartialObjectMetadata",
        "metadata": {"uid": "u0"},
    }
