"""The operator's own API client (kube/client.py): it trusts the cluster's CA alone when the login gives
one (as kopf's session does), the system's store only without one, an insecure login nothing; against
an HTTP server on 127.0.0.1, the paths and headers of its requests, what a 404, a conflict and a
terminating namespace come back as, custom resources and their status, watched kinds read from the
index; kopf's connection pool bound and the in-cluster address. Against a real API server: the cluster
tier (tests/cluster)."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import kopf
import pytest
from streamops.api.common import GROUP, VERSION
from streamops.api.kinds import CLUSTER_QUALITY_SET, LIVESTREAM, RECORDING, RESTREAM
from streamops.kube.client import (
    MERGE_PATCH,
    METADATA_LIST,
    ApiError,
    KubeApi,
    NamespaceTerminating,
    api_connection_limit,
    in_cluster_server,
    ssl_context,
)

SERVER = "https://127.0.0.1:6443"


def one_ca() -> str:
    """A CA certificate in PEM (the first of certifi's bundle: any will do)."""
    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    start = bundle.index("-----BEGIN CERTIFICATE-----")
    return bundle[start : bundle.index(end, start) + len(end)] + "\n"


def test_the_clusters_ca_alone_is_trusted_when_given(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text(one_ca())
    by_path = ssl_context(kopf.ConnectionInfo(server=SERVER, ca_path=str(ca)))
    by_data = ssl_context(kopf.ConnectionInfo(server=SERVER, ca_data=base64.b64encode(one_ca().encode())))
    for context in (by_path, by_data):
        assert context.cert_store_stats()["x509_ca"] == 1
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_without_a_ca_the_system_store_and_insecure_checks_nothing() -> None:
    system = ssl_context(kopf.ConnectionInfo(server=SERVER))
    assert system.cert_store_stats() == ssl.create_default_context().cert_store_stats()
    insecure = ssl_context(kopf.ConnectionInfo(server=SERVER, insecure=True))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname


# --- the blocking client against an HTTP server on 127.0.0.1 ------------------------------------------


class ApiServer:
    """Answers `(method, path)` from `answers` (status, JSON body; 404 otherwise) and records each
    request: method, path with its query, headers, decoded body."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.seen: list[tuple[str, str, dict[str, str], Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: each answer closes its connection (the client opens the next one itself), so
            # no handler thread waits on a kept-alive connection when the server shuts down.
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                status, payload = outer.answers.get((self.command, self.path.split("?")[0]), (404, {}))
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ApiServer:
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as running:
        yield running


def client(server: ApiServer) -> KubeApi:
    return KubeApi(kopf.ConnectionInfo(server=server.url + "/k8s/", token="s3cret"), timeout=5)


def test_core_objects_are_read_created_and_patched_under_the_servers_prefix(server: ApiServer) -> None:
    pod = {"kind": "Pod", "metadata": {"namespace": "ns", "name": "cam-ingest"}}
    server.answers[("POST", "/k8s/api/v1/namespaces/ns/pods")] = (201, {**pod, "status": {}})
    server.answers[("PATCH", "/k8s/api/v1/namespaces/ns/pods/cam-ingest")] = (200, pod)
    server.answers[("GET", "/k8s/api/v1/pods")] = (200, {"items": [pod]})
    api = client(server)
    assert api.get("Pod", "ns", "gone") is None, "404 is None"
    assert api.create(pod) == {**pod, "status": {}}
    assert api.patch("Pod", "ns", "cam-ingest", {"metadata": {"labels": {"a": "b"}}})
    assert not api.patch("Pod", "ns", "gone", {})
    assert api.list_metadata("Pod", "app=x,tier in (a)") == [pod]
    (method, path, headers, body) = server.seen[1]
    assert (method, path, body) == ("POST", "/k8s/api/v1/namespaces/ns/pods", pod)
    assert headers["Authorization"] == "Bearer s3cret" and headers["Content-Type"] == "application/json"
    assert server.seen[2][2]["Content-Type"] == MERGE_PATCH
    assert server.seen[4][1] == "/k8s/api/v1/pods?labelSelector=app%3Dx%2Ctier+in+%28a%29"
    assert server.seen[4][2]["Accept"] == METADATA_LIST, "the metadata alone, not whole Pods"


def test_conflicts_and_refusals(server: ApiServer) -> None:
    pod = {"kind": "Pod", "metadata": {"namespace": "ns", "name": "p", "resourceVersion": "7"}}
    server.answers[("POST", "/k8s/api/v1/namespaces/ns/pods")] = (409, {"reason": "AlreadyExists"})
    server.answers[("PUT", "/k8s/api/v1/namespaces/ns/pods/p")] = (409, {"reason": "Conflict"})
    server.answers[("POST", "/k8s/api/v1/namespaces/gone/pods")] = (403, "namespace gone is NamespaceTerminating")
    server.answers[("DELETE", "/k8s/api/v1/namespaces/ns/pods/p")] = (409, {"reason": "Conflict"})
    server.answers[("GET", "/k8s/api/v1/namespaces/ns/secrets/s")] = (500, "etcd is gone")
    api = client(server)
    assert api.create(pod) is None, "another reconcile got there first"
    assert api.replace(pod) is None, "changed since it was read"
    with pytest.raises(NamespaceTerminating):
        api.create({**pod, "metadata": {"namespace": "gone", "name": "p"}})
    api.delete("Pod", "ns", "p", uid="u-1", grace_seconds=0)  # another object of that name now: left alone
    assert server.seen[-1][3] == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": "u-1"},
        "gracePeriodSeconds": 0,
    }
    with pytest.raises(ApiError) as failed:
        api.get("Secret", "ns", "s")
    assert failed.value.status == 500 and "etcd is gone" in failed.value.body


def test_custom_resources_are_namespaced_or_not_and_their_status_a_subresource(server: ApiServer) -> None:
    base = f"/k8s/apis/{GROUP}/{VERSION}"
    server.answers[("PATCH", f"{base}/namespaces/ns/livestreams/cam/status")] = (200, {})
    server.answers[("GET", f"{base}/clusterqualitysets/hd")] = (200, {"kind": "ClusterQualitySet"})
    items = {"items": [{"metadata": {"uid": "a", "name": "x"}}, {"metadata": {}}, {"metadata": {"uid": "b"}}]}
    server.answers[("GET", f"{base}/namespaces/ns/recordings")] = (200, items)
    api = client(server)
    assert api.patch_status(LIVESTREAM, "ns", "cam", {"live": True})
    assert server.seen[-1][3] == {"status": {"live": True}}
    assert api.get_custom(CLUSTER_QUALITY_SET, "ignored", "hd") == {"kind": "ClusterQualitySet"}
    assert api.custom_uids(RECORDING, "ns") == {"a", "b"}
    assert server.seen[-1][2]["Accept"] == METADATA_LIST


def test_watched_kinds_are_read_from_the_index_not_the_server(server: ApiServer) -> None:
    api = client(server)
    api.watched["Pod"] = {("ns", "p"): [{"metadata": {"name": "p"}}]}  # type: ignore[dict-item]
    assert api.get("Pod", "ns", "p") == {"metadata": {"name": "p"}} and api.get("Pod", "ns", "q") is None
    assert server.seen == []


def test_a_streams_children_come_from_the_index_by_stream_else_from_a_filtered_list(server: ApiServer) -> None:
    api = client(server)
    mine = {"metadata": {"name": "yt"}, "spec": {"streamRef": {"name": "cam"}}}
    other = {"metadata": {"name": "x"}, "spec": {"streamRef": {"name": "other"}}}
    server.answers[("GET", f"/k8s/apis/{GROUP}/{VERSION}/namespaces/ns/restreams")] = (200, {"items": [mine, other]})
    assert api.stream_children(RESTREAM, "ns", "cam") == [mine]
    assert len(server.seen) == 1
    api.watched_by_stream["Restream"] = {("ns", "cam"): [mine]}  # type: ignore[dict-item]
    assert api.stream_children(RESTREAM, "ns", "cam") == [mine] and api.stream_children(RESTREAM, "ns", "b") == []
    assert len(server.seen) == 1, "N Restreams reconciling are not N lists of the namespace"


def test_the_connection_pool_and_the_in_cluster_address() -> None:
    assert api_connection_limit(["a", "b"]) == 10 * 2 + 4 + 12 and api_connection_limit([]) == 10 + 4 + 12
    assert api_connection_limit(["team-*"]) == 0, "a pattern matches any number of namespaces"
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(env) == "https://10.96.0.1:443"
    assert in_cluster_server({**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}) == "https://[fd00::1]:443"
    assert in_cluster_server({}) is None
