"""A tenant's LiveStream against the admin's tenancy policy (issue 37, finding 11;
docs/design/tenancy.md), on a real API server with the suite's operator: a route under another
namespace's prefix, an annotation off the allow-list, a Secret its owner did not label. Each is
refused with Ready False / Stalled True, reason RefusedByPolicy, a message naming what and why,
and a Warning Event; the refused object is not made; the stream's ingest goes on.
(LoadBalancer refusal: the suite's admin allows it for the exposure tests; tests/unit/test_tenancy.py.)"""

from __future__ import annotations

from devtools.catalog import livestream, restream
from devtools.cluster.kubectl import condition
from devtools.waits import eventually

LABEL = "streaming.streamops.dev/allow-reference"
KEY = "tenant-b-db-password-9f31"


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
    cluster.kubectl("create", "secret", "generic", "db", "-n", namespace, f"--from-literal=streamKey={KEY}")
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
    cluster.kubectl("create", "secret", "generic", "db", "-n", namespace, f"--from-literal=streamKey={KEY}")
    cluster.apply(
        namespace, livestream("cam"), restream("out", uri="rtmp://127.0.0.1:9/live", streamKeySecretRef={"name": "db"})
    )
    message = refused(cluster, namespace, "out", "restreams")
    assert "Secret db named in streamKeySecretRef is not labelled" in message and KEY not in message
    assert cluster.get("pods", namespace, "out-pusher") is None
