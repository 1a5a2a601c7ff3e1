"""The pusher's and recorder's HTTP face (media/small_http.py), a real server on 127.0.0.1 asked by
the standard library's client: keep-alive, HEAD, POST bodies, 404/405, malformed requests."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter
from streamops.contract.pusher import PusherStatus
from streamops.contract.worker_credential import AUTHORIZATION, CredentialCheck
from streamops.media.small_http import Reply, Route, registry_metrics, serve, worker_routes


def run_against(routes: dict[tuple[str, str], Route], client: object) -> None:
    """Serve `routes`, run the blocking `client(port)` in a thread, stop the server."""

    async def main() -> None:
        server = await serve(routes, "127.0.0.1", 0, None)
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


def test_the_operators_client_reads_and_posts_on_kept_alive_connections(tmp_path: Path) -> None:
    """The operator's own HTTP client (control/workers/worker_client.py: aiohttp, keep-alive, short
    timeouts) against the small server: typed /status reads and a POST with a JSON body."""
    from streamops.contract.recorder import RecorderStatus
    from streamops.control.workers.worker_client import http_client, read_worker_status

    posted: list[bytes] = []

    async def start(body: bytes) -> Reply:
        posted.append(body)
        return Reply.json({"state": "recording"})

    routes = {
        **worker_routes(lambda: RecorderStatus(state="standby"), lambda: True, lambda: Reply(200, b"")),
        ("POST", "/start"): start,
    }

    credential = tmp_path / "credential"
    credential.write_text("the-streams-worker-credential")
    auth = {AUTHORIZATION: "Bearer the-streams-worker-credential"}

    async def main() -> None:
        server = await serve(routes, "127.0.0.1", 0, CredentialCheck(str(credential)))
        try:
            async with http_client() as client:
                url = f"http://127.0.0.1:{server.port}/status"
                assert await read_worker_status(client, url, RecorderStatus) == 401, "no credential: refused"
                for _ in range(4):
                    status = await read_worker_status(client, url, RecorderStatus, auth)
                    assert isinstance(status, RecorderStatus) and status.state == "standby"
                start_url = f"http://127.0.0.1:{server.port}/start"
                async with client.post(start_url, json={"directory": "d"}, headers=auth) as r:
                    assert r.status == 200 and (await r.json()) == {"state": "recording"}
                assert len(server._connections) == 1, "one kept-alive connection for all six requests (a 401 too)"
        finally:
            await server.cleanup()

    asyncio.run(main())
    assert json.loads(posted[0]) == {"directory": "d"}


def test_control_routes_ask_for_the_streams_worker_credential(tmp_path: Path) -> None:
    """Finding 8 of issue 37: any Pod could POST /stop a recorder or /start a standby. Every route
    but the probes and /metrics now answers 401 to a request without the credential (or with
    another, or with none configured), before the route runs."""
    credential = tmp_path / "credential"
    credential.write_text("s3cret-credential\n")
    ran: list[bytes] = []

    async def stop(body: bytes) -> Reply:
        ran.append(body)
        return Reply.json({"state": "stopped"})

    routes = {**worker_routes(lambda: PusherStatus(), lambda: True, lambda: Reply(200, b"m")), ("POST", "/stop"): stop}

    def request(port: int, method: str, path: str, headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status

    def client(port: int) -> None:
        for headers in ({}, {"Authorization": "Bearer s3cret"}, {"Authorization": "s3cret-credential"}):
            assert request(port, "POST", "/stop", headers) == 401, headers
            assert request(port, "GET", "/status", headers) == 401, headers
        assert ran == [], "a refused request runs nothing"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert request(port, "GET", path, {}) == 200, path
        assert request(port, "POST", "/stop", {"Authorization": "Bearer s3cret-credential"}) == 200
        assert ran == [b"{}"]

    async def main(check: CredentialCheck, probe: object) -> None:
        server = await serve(routes, "127.0.0.1", 0, check)
        try:
            await asyncio.to_thread(probe, server.port)  # type: ignore[arg-type]
        finally:
            await server.cleanup()

    asyncio.run(main(CredentialCheck(str(credential)), client))

    def unconfigured(port: int) -> None:
        assert request(port, "POST", "/stop", {"Authorization": "Bearer "}) == 401
        assert request(port, "POST", "/stop", {"Authorization": "Bearer None"}) == 401

    ran.clear()
    asyncio.run(main(CredentialCheck(None), unconfigured))
    assert ran == []
