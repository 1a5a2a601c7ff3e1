"""The overlay renderer's egress proxy (egress/proxy.py, docs/design/egress.md): the metadata address,
another namespace's Service and a rebound name refused "by policy", only allowed hosts forwarded (in
origin form, Proxy-* headers dropped), tunnels, and its bounds. The resolvers are the tests' own;
every connection goes to a local server on 127.0.0.1, whatever address it was meant for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from streamops.contract.egress_policy import REFUSED, EgressPolicy
from streamops.egress.proxy import MAX_HEAD_BYTES, GuardProxy

METADATA = "169.254.169.254"
PUBLIC = "93.184.216.34"  # never connected to: the tests' connect functions divert it to 127.0.0.1
OTHER_SERVICE = "cam-ingest.other-tenant.svc.cluster.local"


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def answers(*rounds: list[str] | Exception) -> tuple[Callable[[str, int], Awaitable[list[str]]], list[str]]:
    """A resolver giving `rounds` in turn (the last one again after), and the names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        answer = rounds[min(len(asked), len(rounds) - 1)]
        asked.append(host)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return resolve, asked


class Upstream:
    """A local HTTP server standing in for every address the proxy connects to: `connect` records
    the address asked for and connects to this server on 127.0.0.1 instead."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def connect(self, address: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.server is not None
        self.connected.append((address, port))
        return await asyncio.open_connection("127.0.0.1", self.server.sockets[0].getsockname()[1])


async def ask(proxy: GuardProxy, head: str) -> bytes:
    """One request through the proxy: everything it answers until it closes."""
    host, _, port = proxy.address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


def test_the_proxy_refuses_the_metadata_address_other_services_and_rebound_names() -> None:
    async def scenario() -> None:
        resolve, asked = answers([PUBLIC], ["127.0.0.1"])

        async def names(host: str, port: int) -> list[str]:
            return {f"{OTHER_SERVICE}.": ["10.243.0.15"]}.get(host) or await resolve(host, port)

        hosts = [METADATA, OTHER_SERVICE, "rebind.example", "[::ffff:a9fe:a9fe]"]
        async with Upstream() as upstream:
            proxy = GuardProxy(EgressPolicy(), hosts, resolve=names, connect=upstream.connect)
            await proxy.start()
            try:
                metadata = await ask(proxy, f"GET http://{METADATA}/latest/meta-data/ HTTP/1.1\r\nHost: x\r\n\r\n")
                assert metadata.startswith(b"HTTP/1.1 403 ") and metadata.endswith(REFUSED.encode())
                assert proxy.note(METADATA, 80) == REFUSED
                mapped = await ask(proxy, "CONNECT [::ffff:a9fe:a9fe]:443 HTTP/1.1\r\n\r\n")
                assert mapped.startswith(b"HTTP/1.1 403 ")
                service = await ask(proxy, f"CONNECT {OTHER_SERVICE}:8080 HTTP/1.1\r\n\r\n")
                assert service.startswith(b"HTTP/1.1 403 ") and proxy.note(OTHER_SERVICE, 8080) == REFUSED
                assert upstream.connected == []

                # Rebinding: the first answer (public) is where the connection goes...
                first = await ask(proxy, "GET http://rebind.example/a HTTP/1.1\r\nHost: rebind.example\r\n\r\n")
                assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"hello")
                assert upstream.connected == [(PUBLIC, 80)] and proxy.note("rebind.example", 80) is None
                # ...the next asks again, gets loopback, and is refused without connecting.
                second = await ask(proxy, "GET http://rebind.example/b HTTP/1.1\r\nHost: rebind.example\r\n\r\n")
                assert second.startswith(b"HTTP/1.1 403 ") and upstream.connected == [(PUBLIC, 80)]
                assert asked == ["rebind.example.", "rebind.example."]
            finally:
                await proxy.close()

    run(scenario())


def test_the_proxy_forwards_only_allowed_hosts_in_origin_form_and_is_bounded() -> None:
    async def scenario() -> None:
        async with Upstream() as upstream:
            proxy = GuardProxy(
                EgressPolicy(), ["pages.example"], resolve=answers([PUBLIC])[0], connect=upstream.connect
            )
            await proxy.start()
            try:
                head = (
                    "GET http://pages.example:8080/score.json?t=1 HTTP/1.1\r\nHost: pages.example:8080\r\n"
                    "Proxy-Connection: keep-alive\r\nProxy-Authorization: x\r\nAccept: */*\r\n\r\n"
                )
                assert (await ask(proxy, head)).endswith(b"hello")
                sent = upstream.heads[-1].decode()
                assert sent.startswith("GET /score.json?t=1 HTTP/1.1\r\n"), sent
                assert "Proxy-" not in sent and "Accept: */*" in sent and "Connection: close" in sent

                # A tunnel (https, WebSockets): 200, then bytes both ways until the upstream closes.
                tunnel = "CONNECT pages.example:443 HTTP/1.1\r\n\r\nGET /in-tls HTTP/1.1\r\nHost: x\r\n\r\n"
                tunnelled = await ask(proxy, tunnel)
                assert tunnelled.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK")
                assert upstream.heads[-1].startswith(b"GET /in-tls ") and upstream.connected[-1] == (PUBLIC, 443)
                upstream.connected.pop()

                other = await ask(proxy, "CONNECT elsewhere.example:443 HTTP/1.1\r\n\r\n")
                assert other.startswith(b"HTTP/1.1 403 ") and b"not in allowedHosts" in other
                assert (await ask(proxy, "GET ftp://pages.example/ HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
                # A head longer than the bound is answered 431 and closed (or reset, the rest unread).
                huge = "GET http://pages.example/ HTTP/1.1\r\nX: " + "a" * MAX_HEAD_BYTES + "\r\n\r\n"
                with contextlib.suppress(ConnectionResetError):
                    assert (await ask(proxy, huge)).startswith(b"HTTP/1.1 431 ")
                assert upstream.connected == [(PUBLIC, 8080)] and proxy.active == 0
                # Its own port on loopback is never a destination (a loop), whatever the allow-list.
                port = int(proxy.address.rpartition(":")[2])
                proxy.hosts.add("127.0.0.1")
                proxy.policy = EgressPolicy(allow_cidrs=["127.0.0.0/8"])
                looped = await ask(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n")
                assert looped.startswith(b"HTTP/1.1 403 ")
                assert upstream.connected == [(PUBLIC, 8080)]
            finally:
                await proxy.close()

        # Connections at once: one more than the bound is closed unanswered.
        proxy = GuardProxy(EgressPolicy(), [], max_connections=1)
        await proxy.start()
        try:
            host, _, port = proxy.address.rpartition(":")
            _, holding = await asyncio.open_connection(host, int(port))  # sends nothing: holds its slot
            await asyncio.sleep(0.1)
            with contextlib.suppress(ConnectionResetError):  # closed with the request unread
                assert await ask(proxy, "CONNECT a.example:443 HTTP/1.1\r\n\r\n") == b""
            assert proxy.active == 1
            holding.close()
        finally:
            await proxy.close()

    run(scenario())
