"""The pusher's and recorder's HTTP face (media/small_http.py), a real server on 127.0.0.1 asked by
the standard library's client: keep-alive, HEAD, POST bodies, 404/405, malformed requests."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket

from prometheus_client import CollectorRegistry, Counter
from streamops.contract.pusher import PusherStatus
from streamops.media.small_http import Reply, Route, registry_metrics, serve, worker_routes


def run_against(routes: dict[tuple[str, str], Route], client: object) -> None:
    """Serve `routes`, run the blocking `client(port)` in a thread, stop the server."""

    async def main() -> None:
        server = await serve(routes, "127.0.0.1", 0)
        try:
            await asyncio.to_thread(client, server.port)  # type: ignore[arg-type]
        finally:
            await server.cleanup()

    asyncio.run(main())


def test_worker_routes_answer_on_one_kept_alive_connection() -> None:
    registry = CollectorRegistry()
    Counter("streamops_test_bytes", "bytes", registry=registry).inc(5)
    ready = {"now": False}
    routes = worker_routes(
        lambda: PusherStatus(live=True, bytes_sent=7), lambda: ready["now"], registry_metrics(lambda: registry)
    )

    def client(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"ok")
        conn.request("GET", "/readyz")
        r = conn.getresponse()
        assert (r.status, r.read()) == (503, b"not ready")
        ready["now"] = True
        conn.request("GET", "/readyz")
        assert conn.getresponse().read() == b"ready"
        conn.request("GET", "/status?x=1")
        r = conn.getresponse()
        assert r.getheader("Content-Type", "").startswith("application/json")
        body = json.loads(r.read())
        assert body["live"] is True and body["bytesSent"] == 7
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        assert r.status == 200 and b"streamops_test_bytes_total 5.0" in r.read()
        conn.request("HEAD", "/status")
        r = conn.getresponse()
        assert r.status == 200 and int(r.getheader("Content-Length", "0")) > 0 and r.read() == b""
        conn.close()

    run_against(routes, client)


def test_post_body_404_405_and_connection_close() -> None:
    seen: list[bytes] = []

    async def start(body: bytes) -> Reply:
        seen.append(body)
        return Reply.json({"got": len(body)}, status=201)

    def client(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/start", body=b'{"a": 1}', headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert (r.status, json.loads(r.read())) == (201, {"got": 8})
        conn.request("GET", "/start")
        r = conn.getresponse()
        assert r.status == 405
        r.read()
        conn.request("GET", "/nowhere", headers={"Connection": "close"})
        r = conn.getresponse()
        assert r.status == 404 and r.getheader("Connection") == "close"
        r.read()
        conn.close()

    def curl_like(port: int) -> None:  # a body sent only after "100 Continue"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            body = b"{" + b" " * 2000 + b"}"
            head = f"POST /start HTTP/1.1\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
            s.sendall(head.encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            s.sendall(body)
            assert s.recv(4096).startswith(b"HTTP/1.1 201 Created\r\n")

    run_against({("POST", "/start"): start}, client)
    run_against({("POST", "/start"): start}, curl_like)
    assert seen[0] == b'{"a": 1}' and len(seen[1]) == 2002


def test_garbage_is_a_400_and_the_connection_ends() -> None:
    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"HELLO\r\n\r\n")
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 400 ")
            assert s.recv(4096) == b""  # closed
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 400 ")

    run_against({}, client)


def test_the_operators_client_reads_and_posts_on_kept_alive_connections() -> None:
    """The operator's own HTTP client (control/shared/worker_client.py: aiohttp, keep-alive, short
    timeouts) against the small server: typed /status reads and a POST with a JSON body."""
    from streamops.contract.recorder import RecorderStatus
    from streamops.control.shared.worker_client import http_client, read_worker_status

    posted: list[bytes] = []

    async def start(body: bytes) -> Reply:
        posted.append(body)
        return Reply.json({"state": "recording"})

    routes = {
        **worker_routes(lambda: RecorderStatus(state="standby"), lambda: True, lambda: Reply(200, b"")),
        ("POST", "/start"): start,
    }

    async def main() -> None:
        server = await serve(routes, "127.0.0.1", 0)
        try:
            async with http_client() as client:
                url = f"http://127.0.0.1:{server.port}/status"
                for _ in range(5):
                    status = await read_worker_status(client, url, RecorderStatus)
                    assert status is not None and status.state == "standby"
                async with client.post(f"http://127.0.0.1:{server.port}/start", json={"directory": "d"}) as r:
                    assert r.status == 200 and (await r.json()) == {"state": "recording"}
                assert len(server._connections) == 1, "one kept-alive connection for all six requests"
        finally:
            await server.cleanup()

    asyncio.run(main())
    assert json.loads(posted[0]) == {"directory": "d"}
