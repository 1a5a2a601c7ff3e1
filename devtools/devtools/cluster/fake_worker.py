"""A worker's HTTP face faked on 127.0.0.1 for the cluster tier's handover tests (tests/cluster): no
kubelet runs there, so a test sets a worker Pod Running and Ready itself (`running`) and answers
the operator's requests to it with a `FakeWorker` on the Pod's allocated port (the tier's workers
are hostNetwork Pods bound to 127.0.0.1). A subclass says what /status holds and what a POST or PUT
does; the server is stopped when its `serving` block ends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from devtools.cluster.local_pods import set_pod_status
from devtools.waits import eventually


class FakeWorker:
    """GET /status answers `status`; a POST or PUT is given to `took` (path, JSON body or {}), whose
    answer (code, JSON body or None for none) is sent back."""

    def __init__(self, status: dict[str, Any] | None = None) -> None:
        self.status: dict[str, Any] = status or {}

    def took(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        return 200, {}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == "/status"
                self.answer(200 if found else 404, fake.status if found else {})

            def do_POST(self) -> None:
                self.answer(*fake.took("POST", self.path, self.body()))

            def do_PUT(self) -> None:
                self.answer(*fake.took("PUT", self.path, self.body()))

            def body(self) -> dict[str, Any]:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                return json.loads(raw) if raw else {}

            def answer(self, code: int, body: dict[str, Any] | None) -> None:
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


Fake = TypeVar("Fake", bound=FakeWorker)


@contextmanager
def serving(fake: Fake, port: int) -> Iterator[Fake]:
    """`fake` answering on 127.0.0.1:`port` for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", port), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def container_port(pod: dict[str, Any], name: str) -> int:
    """The port `name` of the Pod's first container (on the host network: the host's)."""
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    return int(ports[name])


def running(cluster: Any, ns: str, name: str) -> dict[str, Any]:
    """The Pod `name` once it exists, set Running and Ready at 127.0.0.1 (what a kubelet would)."""
    pod = eventually(lambda: cluster.get("pods", ns, name), what=f"Pod {name}")
    set_pod_status(cluster, ns, name, "Running", True, ip="127.0.0.1")
    return pod
