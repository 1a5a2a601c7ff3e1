"""A tenant's LiveStream against the admin's tenancy policy (issue 37, finding 11;
docs/design/tenancy.md), on a real API server with the suite's operator: a route under another
namespace's prefix, an annotation off the allow-list, a Secret its owner did not label. Each is
refused with Ready False / Stalled True, reason RefusedByPolicy, a message naming what and why,
and a Warning Event; the refused object is not made; the stream's ingest goes on. The same for the
Secrets other kinds name: a Recording's object storage credentials (no recorder) and a
StreamWebhook's signing secret (nothing sent to its receiver, a real HTTP server); both go on by
themselves once the Secret is labelled.
Issue 52: a Secret named before it exists is given to no Pod until it exists with the label (the
kubelet would fill an optional mount in unchecked the moment it appears), and a tenant's NodePort,
chosen nodePorts and the admin's regional load balancers only where the admin allows them (an
operator restarted with the product's defaults for these: the suite's admin allows them otherwise).
(LoadBalancer refusal: the suite's admin allows it for the exposure tests;
tests/unit/control/shared/test_tenancy.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from devtools.catalog import clip, livestream, recording, restream
from devtools.cluster.kubectl import condition
from devtools.media.webhook_receiver import WebhookReceiver
from devtools.ports import free_port
from devtools.waits import eventually

LABEL = "streaming.streamops.dev/allow-reference"
KEY = "tenant-b-db-password-9f31"
ACCESS, SECRET_ACCESS = "AKIATENANTBPROD00001", "tenant-b-production-secret-access-key"


def refused(cluster, ns, name="cam", kind="livestreams"):
    """The stream's RefusedByPolicy message, once its status says it."""
    stalled = eventually(
        lambda: (c := condition(cluster.get(kind, ns, name), "Stalled")) and c["reason"] == "RefusedByPolicy" and c,
        what="Stalled RefusedByPolicy",
    )
    ready = condition(cluster.get(kind, ns, name), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "RefusedByPolicy", stalled["message"])
    return stalled["message"]


def warned(cluster, ns, name="cam"):
    return eventually(lambda: "RefusedByPolicy" in cluster.event_reasons(ns, name=name), what="a RefusedByPolicy Event")


def test_a_route_under_another_namespace_is_refused(cluster, operator, namespace):
    """The longest prefix wins on a shared host: /streams/<other>/cam would be served by this stream."""
    playback = {"ingress": {"host": "tv.example", "path": "/streams/studio-a/cam"}}
    cluster.apply(namespace, livestream("cam", playback=playback))
    message = refused(cluster, namespace)
    assert f"spec.playback.ingress.path /streams/studio-a/cam is outside /streams/{namespace}/" in message
    warned(cluster, namespace)
    assert cluster.get("ingresses", namespace, "cam-playback") is None
    assert cluster.get("pods", namespace, "cam-ingest") is not None, "the stream itself runs on"
    # Its own prefix: the route is made and the refusal is gone.
    cluster.apply(
        namespace,
        livestream("cam", playback={"ingress": {"host": "tv.example", "path": f"/streams/{namespace}/cam-hd"}}),
    )
    eventually(lambda: cluster.get("ingresses", namespace, "cam-playback"), what="the Ingress on the own prefix")
    eventually(lambda: condition(cluster.get("livestreams", namespace, "cam"), "Stalled") is None, what="Stalled gone")


def test_annotations_off_the_list_are_refused(cluster, operator, namespace):
    snippet = {"nginx.ingress.kubernetes.io/server-snippet": "location / { proxy_pass http://10.0.0.1; }"}
    claim = {"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}
    playback = {"ingress": {"host": "tv.example", "annotations": snippet}}
    cluster.apply(namespace, livestream("cam", playback=playback, ingest={"service": {"annotations": claim}}))
    message = refused(cluster, namespace)
    assert "spec.playback.ingress.annotations nginx.ingress.kubernetes.io/server-snippet not on" in message
    assert "spec.ingest.service.annotations metallb.universe.tf/loadBalancerIPs not on" in message
    service = eventually(lambda: cluster.get("services", namespace, "cam-ingest"), what="the ingest Service")
    assert "metallb.universe.tf/loadBalancerIPs" not in service["metadata"]["annotations"]
    assert cluster.get("ingresses", namespace, "cam-playback") is None


def test_an_unlabelled_secret_is_not_used(cluster, operator, namespace):
    cluster.create_secret(namespace, "db", {"streamKey": KEY})
    cluster.apply(
        namespace, livestream("cam", source={"push": {"protocols": ["rtmp"], "streamKeySecretRef": {"name": "db"}}})
    )
    message = refused(cluster, namespace)
    assert f"Secret db named in source.push.streamKeySecretRef is not labelled {LABEL}=true" in message
    assert KEY not in message
    warned(cluster, namespace)
    assert cluster.get("pods", namespace, "cam-ingest") is None
    # The owner opts in: the ingest starts (Secrets are not watched: the loop looks again soon).
    cluster.allow_reference(namespace, "db")
    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), timeout=30, what="the ingest once labelled")


def test_a_restream_never_sends_an_unlabelled_secret(cluster, operator, namespace):
    cluster.create_secret(namespace, "db", {"streamKey": KEY})
    cluster.apply(
        namespace, livestream("cam"), restream("out", uri="rtmp://127.0.0.1:9/live", streamKeySecretRef={"name": "db"})
    )
    message = refused(cluster, namespace, "out", "restreams")
    assert "Secret db named in streamKeySecretRef is not labelled" in message and KEY not in message
    assert cluster.get("pods", namespace, "cam-pusher") is None


def test_a_recording_never_hands_an_unlabelled_secret_to_its_recorder(cluster, operator, namespace):
    """The recorder would get the keys by env and sign its uploads to the spec's endpoint with them."""
    ns = namespace
    keys = {"accessKeyId": ACCESS, "secretAccessKey": SECRET_ACCESS}
    s3 = {"endpoint": "https://s3.tenant-a.example", "bucket": "loot", "credentialsSecret": "prod-s3"}
    cluster.apply(
        ns,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "prod-s3"}, "stringData": keys},
        livestream("cam", screenshots={"enabled": False}),
        recording("rec", storage={"s3": s3}),
    )
    message = refused(cluster, ns, "rec", "recordings")
    assert f"Secret prod-s3 named in storage.s3.credentialsSecret is not labelled {LABEL}=true" in message
    assert ACCESS not in message and SECRET_ACCESS not in message
    warned(cluster, ns, "rec")
    assert cluster.get("pods", ns, "rec-recorder") is None
    # The owner opts in: the recorder is made (Secrets are not watched: the loop looks again soon).
    cluster.allow_reference(ns, "prod-s3")
    pod = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), timeout=30, what="the recorder once labelled")
    refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in pod["spec"]["containers"][0]["env"] if "valueFrom" in e]
    assert "prod-s3" in refs
    eventually(lambda: condition(cluster.get("recordings", ns, "rec"), "Stalled") is None, what="Stalled gone")


def test_a_webhook_never_signs_with_an_unlabelled_secret(cluster, operator, namespace, tmp_path: Path):
    """The receiver would get HMACs keyed with any key of any Secret of the namespace."""
    ns = namespace
    receiver = WebhookReceiver("127.0.0.1", free_port(), tmp_path / "hooks.jsonl", [KEY]).start()
    try:
        cluster.create_secret(ns, "db", {"password": KEY})
        hook = {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "StreamWebhook",
            "metadata": {"name": "hooks"},
            "spec": {"url": receiver.url, "secretRef": {"name": "db", "key": "password"}},
        }
        cluster.apply(ns, hook, livestream("cam", screenshots={"enabled": False}))
        message = refused(cluster, ns, "hooks", "streamwebhooks")
        assert f"Secret db named in spec.secretRef is not labelled {LABEL}=true" in message and KEY not in message
        warned(cluster, ns, "hooks")
        # An event meanwhile (a Clip of a stream without DVR fails): kept, not sent.
        eventually(lambda: cluster.get("configmaps", ns, "streamops-events-cam"), what="the stream's outbox")
        cluster.apply(ns, clip("late", lastSeconds=5))
        eventually(
            lambda: (cluster.get("streamwebhooks", ns, "hooks").get("status") or {}).get("backlog", 0) >= 1,
            timeout=20,
            what="the event waiting",
        )
        assert receiver.entries() == [], "nothing reached the receiver"
        # The owner opts in: the waiting event goes out, signed with it, and Ready comes back.
        cluster.allow_reference(ns, "db")
        eventually(lambda: receiver.events(), timeout=30, what="the event once labelled")
        assert {e["type"] for e in receiver.events()} == {"dev.streamops.clip.failed"}
        assert all(e["verified"] for e in receiver.entries())
        eventually(
            lambda: (c := condition(cluster.get("streamwebhooks", ns, "hooks"), "Ready")) and c["status"] == "True",
            timeout=30,
            what="Ready again",
        )
        assert condition(cluster.get("streamwebhooks", ns, "hooks"), "Stalled") is None
    finally:
        receiver.stop()


def secret_users(pod: dict | None, name: str) -> list[str]:
    """The Pod's volumes and env entries that would have the kubelet hand it the Secret `name`."""
    spec = (pod or {}).get("spec") or {}
    volumes = [v["name"] for v in spec.get("volumes", []) if (v.get("secret") or {}).get("secretName") == name]
    env = [
        e["name"]
        for c in spec.get("containers", [])
        for e in c.get("env", [])
        if ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") == name
    ]
    return volumes + env


def test_a_secret_named_before_it_exists_reaches_no_pod_until_labelled(cluster, operator, namespace):
    """A tenant names a Secret that will appear later (cert-manager's output, a rotation) as the
    credentials for an RTSP camera URL of their own. On ec95e86 the ingest Pod mounted it optionally
    at once: when it appeared unlabelled, the kubelet filled the files in and FFmpeg offered them to
    the tenant's server until the next resync."""
    ns = namespace
    pull = {"urls": ["rtsp://198.51.100.4:554/cam"], "credentialsSecretRef": {"name": "nvr-admin"}}
    cluster.apply(ns, livestream("cam", source={"pull": pull}, screenshots={"enabled": False}))
    pod = eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest, which runs on without it")
    assert secret_users(pod, "nvr-admin") == [], "no mount of a Secret that does not exist yet"
    message = refused(cluster, ns)
    assert "Secret nvr-admin named in spec.source.pull.credentialsSecretRef does not exist yet" in message
    warned(cluster, ns)
    # It appears, unlabelled: still refused (the next look says why), still no Pod that mounts it.
    keys = {"username": "admin", "password": KEY}
    cluster.apply(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nvr-admin"}, "stringData": keys})
    unlabelled = "Secret nvr-admin named in spec.source.pull.credentialsSecretRef is not labelled"
    eventually(
        lambda: (
            unlabelled in ((condition(cluster.get("livestreams", ns, "cam"), "Stalled") or {}).get("message") or "")
        ),
        timeout=30,
        what="the refusal of the unlabelled Secret",
    )
    assert secret_users(cluster.get("pods", ns, "cam-ingest"), "nvr-admin") == []
    assert KEY not in json.dumps(cluster.get("livestreams", ns, "cam"))
    # Its owner labels it: the ingest is given it (a Pod of the new spec).
    cluster.allow_reference(ns, "nvr-admin")
    eventually(lambda: secret_users(cluster.get("pods", ns, "cam-ingest"), "nvr-admin"), timeout=30,
               what="the ingest Pod mounting the labelled Secret")  # fmt: skip
    eventually(lambda: condition(cluster.get("livestreams", ns, "cam"), "Stalled") is None, what="Stalled gone")


# The product's defaults for what issue 52 gates (the suite's admin opens them for its exposure tests),
# and one LoadBalancer region of the admin's.
CLOSED = {
    "STREAMOPS_TENANCY_ALLOW_LOAD_BALANCER": "false",
    "STREAMOPS_TENANCY_ALLOW_NODE_PORT": "false",
    "STREAMOPS_TENANCY_ALLOW_FIXED_NODE_PORTS": "false",
    "STREAMOPS_INGEST_REGIONS": json.dumps([{"name": "eu", "service": {"type": "LoadBalancer"}}]),
}


def test_a_tenants_node_port_chosen_ports_and_regional_load_balancers_are_refused(cluster, operator, namespace):
    """On ec95e86, with tenancy.allowLoadBalancer false, `type: NodePort` was made as asked, held the
    nodePort the tenant chose on every node, and brought a public load balancer per LoadBalancer
    region (cam-ingest-region-eu)."""
    ns = namespace
    with operator.with_env(CLOSED):
        service = {"type": "NodePort", "nodePorts": {"rtmp": 31935}}
        cluster.apply(ns, livestream("cam", ingest={"service": service}, screenshots={"enabled": False}))
        made = eventually(lambda: cluster.get("services", ns, "cam-ingest"), what="the ingest Service")
        assert made["spec"]["type"] == "ClusterIP", "the admin's default type, not the ask"
        assert not [p for p in made["spec"]["ports"] if p.get("nodePort")]
        message = refused(cluster, ns)
        assert "spec.ingest.service.type NodePort is not allowed (chart value tenancy.allowNodePort)" in message
        assert "spec.ingest.service.nodePorts (rtmp) are not allowed (chart value tenancy.allowFixedNodePorts)" in (
            message
        )
        warned(cluster, ns)
        assert cluster.get("services", ns, "cam-ingest-region-eu") is None, "no region load balancer"
        assert cluster.get("pods", ns, "cam-ingest") is not None, "the stream itself runs on"
