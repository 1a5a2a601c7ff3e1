"""A LiveStream becomes a stream-key Secret, an ingest Pod and a Service owned by it; its status
follows what is observed; deleting it garbage-collects the children (real controller-manager);
restarting the operator changes nothing.

No kubelet runs here: where a test needs a running ingest it sets the Pod's status through the
pods/status subresource, exactly as a kubelet would.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.waits import eventually

GROUP = "streaming.streamops.dev"


def children(cluster, ns, name):
    selector = f"{GROUP}/stream={name}"
    return {
        "pods": cluster.list("pods", ns, selector),
        "services": cluster.list("services", ns, selector),
        "secrets": cluster.list("secrets", ns, selector),
    }


def create_stream(cluster, ns, name="cam", **spec):
    cluster.apply(ns, livestream(name, **spec))
    return eventually(
        lambda: (s := cluster.get("livestreams", ns, name)) and condition(s, "Ready") and s,
        what="a Ready condition on the LiveStream",
    )


def set_pod_status(cluster, ns, pod_name, phase, ready):
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now},
        ],
    }
    cluster.core.patch_namespaced_pod_status(
        pod_name, ns, {"status": status}, _content_type="application/merge-patch+json"
    )


def test_children_are_owned_and_labelled(cluster, operator, namespace):
    stream = create_stream(cluster, namespace)
    uid = stream["metadata"]["uid"]
    kids = eventually(
        lambda: (
            (k := children(cluster, namespace, "cam"))
            and all(k.values())
            and len(k["services"]) == 2
            and len(k["secrets"]) == 2
            and k
        ),
        what="Pod, Services and Secret",
    )
    # The stream's Service (its public ports) and the internal one (the feeds, status, metrics).
    assert sorted(s["metadata"]["name"] for s in kids["services"]) == ["cam-ingest", "cam-ingest-internal"]
    assert {s["metadata"]["name"]: s["spec"]["type"] for s in kids["services"]}["cam-ingest-internal"] == "ClusterIP"
    for kind, objs in kids.items():
        # Services: the stream's and its internal one; Secrets: the stream key and the workers' credential.
        assert len(objs) == (2 if kind in ("services", "secrets") else 1), kind
        refs = objs[0]["metadata"]["ownerReferences"]
        assert refs == [
            {
                "apiVersion": f"{GROUP}/v1alpha1",
                "kind": "LiveStream",
                "name": "cam",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], kind
        assert objs[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "streamops"
    assert kids["pods"][0]["metadata"]["name"] == "cam-ingest"
    assert kids["services"][0]["spec"]["selector"].items() <= kids["pods"][0]["metadata"]["labels"].items()
    key = next(s for s in kids["secrets"] if "streamKey" in s["data"])
    assert len(base64.b64decode(key["data"]["streamKey"])) >= 24


def test_status_and_conditions_follow_the_pod(cluster, operator, namespace):
    stream = create_stream(cluster, namespace)
    assert stream["status"]["observedGeneration"] == stream["metadata"]["generation"]
    ready = condition(stream, "Ready")
    assert ready["status"] == "False" and ready["reason"] in ("IngestStarting", "IngestPending")
    assert ready["observedGeneration"] == stream["metadata"]["generation"]
    assert condition(stream, "Reconciling")["status"] == "True"
    service = eventually(lambda: cluster.get("services", namespace, "cam-ingest"), what="ingest Service")
    rtmp = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "rtmp")
    # hostNetwork workers (see conftest): the allocated port, at STREAMOPS_WORKER_ADDRESS
    assert stream["status"]["ingest"]["pushUrl"] == f"rtmp://127.0.0.1:{rtmp}/live"

    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="ingest Pod")
    # Running, its listeners not up yet (readiness probe failing): not Ready, a push would be refused.
    set_pod_status(cluster, namespace, "cam-ingest", "Running", ready=False)
    s = eventually(
        lambda: (
            (s := cluster.get("livestreams", namespace, "cam"))
            and "does not accept publishers" in condition(s, "Ready")["message"]
            and s
        ),
        what="Ready False while the worker starts its listeners",
    )
    assert condition(s, "Ready")["status"] == "False" and condition(s, "Ready")["reason"] == "IngestStarting"

    # Ready means "accepting publishers" (the Service routes to it); only the worker's /status says
    # live, and no worker answers here (test_media_flow.py runs real ones).
    set_pod_status(cluster, namespace, "cam-ingest", "Running", ready=True)
    s = eventually(
        lambda: (s := cluster.get("livestreams", namespace, "cam")) and condition(s, "Ready")["status"] == "True" and s,
        what="Ready True",
    )
    assert condition(s, "Reconciling") is None, "Reconciling exists only while true"
    time.sleep(1.5)  # (a few status loop ticks, in which it must NOT turn live: no worker answers)
    s = cluster.get("livestreams", namespace, "cam")
    assert s["status"]["live"] is False and condition(s, "Live")["status"] == "False"
    table = cluster.kubectl("get", "lst", "cam", "-n", namespace, "--no-headers").stdout.split()
    assert table[1:5] == ["false", "false", "0", "True"], table  # LIVE, RECORDING, VIEWERS, READY (ONAIR empty)


def test_spec_changes_roll_the_pod_only_when_needed(cluster, operator, namespace):
    create_stream(cluster, namespace)
    pod = eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="ingest Pod")

    cluster.patch("lst", namespace, "cam", {"spec": {"title": "New"}})
    s = eventually(
        lambda: (
            (s := cluster.get("livestreams", namespace, "cam")) and s["status"].get("observedGeneration") == 2 and s
        ),
        what="generation 2 observed",
    )
    assert condition(s, "Ready")["observedGeneration"] == 2
    assert cluster.get("pods", namespace, "cam-ingest")["metadata"]["uid"] == pod["metadata"]["uid"]

    cluster.patch("lst", namespace, "cam", {"spec": {"dvr": {"enabled": True, "durationSeconds": 60}}})
    new = eventually(
        lambda: (
            (p := cluster.get("pods", namespace, "cam-ingest")) and p["metadata"]["uid"] != pod["metadata"]["uid"] and p
        ),
        what="a new ingest Pod",
    )
    config = json.loads(new["spec"]["containers"][0]["env"][0]["value"])
    assert config["dvr"] == {"enabled": True, "durationSeconds": 60}


def test_inactive_stream_stops_ingest_and_keeps_the_rest(cluster, operator, namespace):
    create_stream(cluster, namespace)
    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="ingest Pod")
    cluster.patch("lst", namespace, "cam", {"spec": {"active": False}})
    eventually(lambda: cluster.get("pods", namespace, "cam-ingest") is None, what="ingest Pod deleted")
    s = eventually(
        lambda: (
            (s := cluster.get("livestreams", namespace, "cam")) and condition(s, "Ready")["reason"] == "Inactive" and s
        ),
        what="Ready/Inactive",
    )
    assert s["status"]["active"] is False
    assert cluster.get("services", namespace, "cam-ingest") is not None
    assert cluster.get("secrets", namespace, "cam-stream-key") is not None

    cluster.patch("lst", namespace, "cam", {"spec": {"active": True}})
    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="ingest Pod back")


def test_deleted_pod_is_recreated(cluster, operator, namespace):
    create_stream(cluster, namespace)
    pod = eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="ingest Pod")
    cluster.delete("pod", namespace, "cam-ingest", wait=True)
    eventually(
        lambda: (p := cluster.get("pods", namespace, "cam-ingest")) and p["metadata"]["uid"] != pod["metadata"]["uid"],
        what="a replacement Pod",
    )


def test_missing_referenced_key_secret_stalls_then_recovers(cluster, operator, namespace):
    s = create_stream(cluster, namespace, source={"push": {"streamKeySecretRef": {"name": "mine"}}})
    s = eventually(
        lambda: (
            (s := cluster.get("livestreams", namespace, "cam"))
            and (c := condition(s, "Stalled"))
            and c["status"] == "True"
            and s
        ),
        what="Stalled",
    )
    assert condition(s, "Stalled")["reason"] == "StreamKeySecretNotFound"
    assert cluster.get("pods", namespace, "cam-ingest") is None
    cluster.create_secret(namespace, "mine", {"streamKey": "abcdef123456"})
    cluster.allow_reference(namespace, "mine")
    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), timeout=40, what="ingest Pod once the key exists")
    s = eventually(
        lambda: (s := cluster.get("livestreams", namespace, "cam")) and condition(s, "Stalled") is None and s,
        what="Stalled gone",
    )
    assert cluster.get("secrets", namespace, "cam-stream-key") is None, "no key generated when one is referenced"


def test_no_key_material_in_status_events_or_logs(cluster, operator, namespace):
    create_stream(cluster, namespace)
    secret = eventually(lambda: cluster.get("secrets", namespace, "cam-stream-key"), what="generated key")
    key = base64.b64decode(secret["data"]["streamKey"]).decode()
    # A new stream's ingest on its way is no Event (its status says so); Ready turning True is one.
    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="ingest Pod")
    set_pod_status(cluster, namespace, "cam-ingest", "Running", ready=True)
    eventually(lambda: cluster.events(namespace, "LiveStream", "cam", "IngestRunning"), what="the IngestRunning Event")
    stream = cluster.get("livestreams", namespace, "cam")
    events = cluster.list("events", namespace)
    reasons = {e["reason"] for e in events if e["involvedObject"]["kind"] == "LiveStream"}
    assert not reasons & {"IngestStarting", "IngestPending"}, reasons
    for where, text in [
        ("status", json.dumps(stream["status"])),
        ("metadata", json.dumps(stream["metadata"])),
        ("events", json.dumps(events)),
        ("operator log", operator.logs()),
    ]:
        assert key not in text, f"stream key leaked into {where}"
    annotations = stream["metadata"].get("annotations", {})
    assert not [a for a in annotations if "kopf.zalando.org" in a], annotations
    assert not stream["metadata"].get("finalizers"), "no finalizer: nothing has to run before a stream may go"
    assert "kopf" not in stream["status"]


def test_a_finalizer_of_an_earlier_version_is_removed(cluster, operator, namespace):
    """Objects of versions whose loops were kopf daemons carry kopf's finalizer (our group's name):
    the operator takes it off, and the stream is deleted at once."""
    body = livestream("cam")
    body["metadata"]["finalizers"] = [f"{GROUP}/finalizer"]
    cluster.apply(namespace, body)
    eventually(
        lambda: (s := cluster.get("livestreams", namespace, "cam")) and not s["metadata"].get("finalizers"),
        what="the old finalizer removed",
    )
    cluster.delete("lst", namespace, "cam", wait=True, timeout=30)


def test_delete_garbage_collects_children(cluster, operator, namespace):
    create_stream(cluster, namespace)
    eventually(lambda: all(children(cluster, namespace, "cam").values()), what="children")
    cluster.delete("lst", namespace, "cam", wait=True)
    eventually(
        lambda: not any(children(cluster, namespace, "cam").values()),
        timeout=60,
        what="children garbage-collected by kube-controller-manager",
    )
    # The deleted stream's loop is gone (it would put its children back); a stream created again
    # under the name is another object with children of its own.
    time.sleep(2)  # (a window in which the children must NOT come back)
    assert not any(children(cluster, namespace, "cam").values())
    again = create_stream(cluster, namespace)
    kids = eventually(lambda: (k := children(cluster, namespace, "cam")) and all(k.values()) and k, what="new children")
    assert all(o["metadata"]["ownerReferences"][0]["uid"] == again["metadata"]["uid"] for v in kids.values() for o in v)


def test_operator_restart_changes_nothing(cluster, operator, namespace):
    create_stream(cluster, namespace)
    eventually(lambda: all(children(cluster, namespace, "cam").values()), what="children")
    set_pod_status(cluster, namespace, "cam-ingest", "Running", ready=True)
    # (Ready: the ingest accepts publishers; live would need a worker's /status, test_media_flow's part.)
    before = eventually(
        lambda: (s := cluster.get("livestreams", namespace, "cam")) and condition(s, "Ready")["status"] == "True" and s,
        what="Ready",
    )
    uids = {k: [o["metadata"]["uid"] for o in v] for k, v in children(cluster, namespace, "cam").items()}
    line = f"LiveStream {namespace}/cam: reconciled (generation"
    resumed = operator.logs().count(line)

    operator.restart()
    eventually(
        lambda: operator.logs().count(line) > resumed,
        timeout=60,
        what="the restarted operator resumed the stream",
    )
    after = cluster.get("livestreams", namespace, "cam")
    assert {k: [o["metadata"]["uid"] for o in v] for k, v in children(cluster, namespace, "cam").items()} == uids
    assert after["status"] == before["status"]


# --- exposure (docs/design/exposure.md) -----------------------------------------------------------


def stream_status(cluster, ns, what, check, name="cam"):
    return eventually(lambda: (s := cluster.get("livestreams", ns, name)) and check(s) and s, what=what)


def test_load_balancer_address_reaches_status_ingest(cluster, operator, namespace):
    create_stream(cluster, namespace, ingest={"service": {"type": "LoadBalancer"}})
    service = eventually(
        lambda: (v := cluster.get("services", namespace, "cam-ingest")) and v["spec"]["type"] == "LoadBalancer" and v,
        what="LoadBalancer Service",
    )
    # The server allocated nodePorts; no load balancer yet: status says so and shows no outside URL.
    assert all(p.get("nodePort") for p in service["spec"]["ports"])
    s = stream_status(
        cluster, namespace, "reachableFrom", lambda s: "no address yet" in s["status"]["ingest"]["reachableFrom"]
    )
    assert s["status"]["ingest"]["exposure"] != "LoadBalancer"
    # A cloud controller writes the address: status.ingest follows (the Service's watch wakes the stream).
    cluster.core.patch_namespaced_service_status(
        "cam-ingest", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.9"}]}}},
        _content_type="application/merge-patch+json",
    )  # fmt: skip
    rtmp = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "rtmp")
    s = stream_status(cluster, namespace, "LB URL", lambda s: s["status"]["ingest"].get("exposure") == "LoadBalancer")
    assert s["status"]["ingest"]["pushUrl"] == f"rtmp://198.51.100.9:{rtmp}/live"
    assert s["status"]["playback"]["exposure"] == "LoadBalancer"
    # Back to ClusterIP: the same Service, patched in place, keeping its host-port allocation.
    annotation = service["metadata"]["annotations"][f"{GROUP}/host-ports"]
    cluster.patch("lst", namespace, "cam", [{"op": "remove", "path": "/spec/ingest/service/type"}], "json")
    after = eventually(
        lambda: (v := cluster.get("services", namespace, "cam-ingest")) and v["spec"]["type"] == "ClusterIP" and v,
        what="ClusterIP again",
    )
    assert after["metadata"]["uid"] == service["metadata"]["uid"]
    assert after["metadata"]["annotations"][f"{GROUP}/host-ports"] == annotation
    assert not any(p.get("nodePort") for p in after["spec"]["ports"])


def test_a_service_the_server_refuses_stalls_only_that_stream(cluster, operator, namespace):
    create_stream(cluster, namespace, name="ok")
    # 1935 is outside the API server's NodePort range (30000-32767): admission passes, the server refuses.
    cluster.apply(namespace, livestream("cam", ingest={"service": {"type": "NodePort", "nodePorts": {"rtmp": 1935}}}))
    s = stream_status(
        cluster, namespace, "Stalled ServiceRejected",
        lambda s: (c := condition(s, "Stalled")) and c["reason"] == "ServiceRejected",
    )  # fmt: skip
    message = condition(s, "Stalled")["message"]
    assert "cam-ingest" in message and "30000-32767" in message, message
    assert condition(s, "Ready")["status"] == "False"
    # Nothing else disturbed: the ingest Pod is there, the other stream is untouched.
    assert cluster.get("pods", namespace, "cam-ingest") is not None
    other = cluster.get("livestreams", namespace, "ok")
    assert condition(other, "Stalled") is None and cluster.get("services", namespace, "ok-ingest") is not None
    assert "Traceback" not in operator.logs()
    # Fixed in the spec: the Service appears and Stalled goes away.
    cluster.patch("lst", namespace, "cam", [{"op": "remove", "path": "/spec/ingest/service/nodePorts"}], "json")
    stream_status(cluster, namespace, "no Stalled", lambda s: condition(s, "Stalled") is None)
    assert cluster.get("services", namespace, "cam-ingest")["spec"]["type"] == "NodePort"


def test_playback_ingress_and_a_route_the_cluster_cannot_serve(cluster, operator, namespace):
    create_stream(cluster, namespace, playback={"ingress": {"host": "tv.example", "className": "traefik"}})
    body = eventually(lambda: cluster.get("ingresses", namespace, "cam-playback"), what="the playback Ingress")
    assert body["metadata"]["ownerReferences"][0]["name"] == "cam"
    assert body["spec"]["rules"][0]["http"]["paths"][0]["path"] == f"/streams/{namespace}/cam"
    s = stream_status(
        cluster, namespace, "Ingress URLs", lambda s: s["status"]["playback"].get("exposure") == "Ingress"
    )
    assert s["status"]["playback"]["hlsCmafUrl"] == f"http://tv.example/streams/{namespace}/cam/hls/cmaf/index.m3u8"
    # An HTTPRoute instead: the Ingress goes; without the Gateway API CRDs the stream says why.
    route = {"parentRefs": [{"name": "web"}], "hostnames": ["tv.example"]}
    cluster.patch("lst", namespace, "cam", {"spec": {"playback": {"ingress": None, "httpRoute": route}}})
    eventually(lambda: cluster.get("ingresses", namespace, "cam-playback") is None, what="the Ingress deleted")
    served = cluster.get("customresourcedefinitions", "", "httproutes.gateway.networking.k8s.io") is not None
    if served:
        eventually(lambda: cluster.get("httproutes", namespace, "cam-playback"), what="the HTTPRoute")
    else:
        s = stream_status(
            cluster, namespace, "PlaybackRouteRejected",
            lambda s: (c := condition(s, "Stalled")) and c["reason"] == "PlaybackRouteRejected",
        )  # fmt: skip
        assert "HTTPRoute" in condition(s, "Stalled")["message"]
        assert cluster.get("pods", namespace, "cam-ingest") is not None
