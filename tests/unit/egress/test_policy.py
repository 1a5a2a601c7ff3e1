"""The egress guard (streamops.egress, docs/design/egress.md; issue 37 findings 9 and 10): what the
policy refuses, names resolved once and checked, the webhook sender refusing the metadata address,
another namespace's Service, a rebound name and a redirect — each "refused by policy" and nothing else
(the overlay renderer's proxy: test_proxy.py). The resolvers are the tests' own; nothing is sent anywhere but
127.0.0.1 (a connection meant for any other address is recorded and sent to a local server)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from streamops.api.webhook import StreamWebhookSpec
from streamops.contract.egress_policy import REFUSED, EgressPolicy, EgressRefused
from streamops.control.shared.settings import EgressSettings, OperatorSettings
from streamops.control.webhook.delivery import SubscriptionDelivery
from streamops.control.webhook.notifier import webhook_session
from streamops.control.webhook.outbox import PendingEvent
from streamops.control.webhook.subscription import Subscription
from streamops.egress.pinning import pinned
from streamops.egress.resolution import checked_addresses

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


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


# --- the policy -------------------------------------------------------------------------------------


def test_policy_refuses_every_address_that_is_not_public_unless_allow_listed() -> None:
    policy = EgressPolicy()
    refused = [
        "127.0.0.1", "127.0.0.2", "::1", METADATA, "::ffff:169.254.169.254", "fe80::1", "10.243.0.10",
        "172.16.0.1", "192.168.1.1", "100.64.0.1", "fc00::1", "fd12:3456::1", "0.0.0.0", "::", "224.0.0.1",
        "ff02::1", "255.255.255.255", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::ffff:10.0.0.1",
    ]  # fmt: skip
    for address in refused:
        assert policy.refuses(ip(address)), address
    for address in (PUBLIC, "1.1.1.1", "2606:4700:4700::1111"):
        assert not policy.refuses(ip(address)), address

    # The cluster's ranges when they are public addresses (GKE's Service range can be).
    cluster = EgressPolicy(cluster_cidrs=["34.118.224.0/20"])
    assert cluster.refuses(ip("34.118.224.10")) and not cluster.refuses(ip(PUBLIC))

    # The allow-list wins, for exactly what it names (the IPv4-mapped form too).
    allowed = EgressPolicy(allow_cidrs=["127.0.0.1/32", "10.96.0.0/12"], cluster_cidrs=["10.96.0.0/12"])
    assert not allowed.refuses(ip("127.0.0.1")) and not allowed.refuses(ip("::ffff:127.0.0.1"))
    assert not allowed.refuses(ip("10.96.0.10"))
    assert allowed.refuses(ip("127.0.0.2")) and allowed.refuses(ip(METADATA))

    with pytest.raises(ValueError, match="not-a-cidr"):
        EgressPolicy(allow_cidrs=["not-a-cidr"])
    assert str(EgressRefused()) == REFUSED


def test_settings_read_the_charts_lists() -> None:
    settings = OperatorSettings.from_env(
        {"STREAMOPS_EGRESS_ALLOW_CIDRS": '["10.241.0.1/32"]', "STREAMOPS_EGRESS_CLUSTER_CIDRS": "[]"}
    )
    assert settings.egress.allow_cidrs == ["10.241.0.1/32"] and settings.egress.cluster_cidrs == []
    assert OperatorSettings.from_env({"STREAMOPS_EGRESS_ALLOW_CIDRS": ""}).egress.allow_cidrs == []
    with pytest.raises(ValueError):
        OperatorSettings.from_env({"STREAMOPS_EGRESS_ALLOW_CIDRS": '["10.0.0.0/33"]'})


# --- resolution -------------------------------------------------------------------------------------


def test_names_resolve_once_as_absolute_names_and_only_checked_addresses_are_kept() -> None:
    policy = EgressPolicy()
    resolve, asked = answers([PUBLIC, "10.0.0.5"])
    assert run(checked_addresses("hooks.example.com", 443, policy, resolve)) == [ip(PUBLIC)]
    # Absolute: the Pod's search list never makes "svc.other-ns" a cluster name.
    assert asked == ["hooks.example.com."]

    with pytest.raises(EgressRefused):  # another namespace's Service: its address is the cluster's
        run(checked_addresses(OTHER_SERVICE, 8080, policy, answers(["10.243.0.15"])[0]))
    gone = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with pytest.raises(EgressRefused):  # a cluster name that does not exist says the same: no oracle
        run(checked_addresses(OTHER_SERVICE, 8080, policy, answers(gone)[0]))
    with pytest.raises(socket.gaierror):  # a public name that does not resolve is the user's typo
        run(checked_addresses("hooks.example.com", 443, policy, answers(gone)[0]))
    with pytest.raises(EgressRefused):
        run(checked_addresses(f"[{'::ffff:169.254.169.254'}]", 80, policy))
    assert run(checked_addresses("[2606:4700:4700::1111]", 80, policy)) == [ip("2606:4700:4700::1111")]


def test_a_pinned_request_keeps_the_address_that_was_checked() -> None:
    """DNS rebinding: the name answers a public address, then loopback. The request is pinned to the
    first answer (the client never resolves again); a new request asking again is refused."""
    policy = EgressPolicy()
    resolve, asked = answers([PUBLIC], ["127.0.0.1"])
    first = run(pinned("https://rebind.example:8443/hook?token=t", policy, resolve))
    assert str(first.url) == f"https://{PUBLIC}:8443/hook?token=t"
    assert (first.host_header, first.server_hostname) == ("rebind.example:8443", "rebind.example")
    with pytest.raises(EgressRefused):
        run(pinned("https://rebind.example:8443/hook?token=t", policy, resolve))
    assert asked == ["rebind.example.", "rebind.example."]
    with pytest.raises(EgressRefused):
        run(pinned(f"http://{METADATA}/latest/meta-data/", policy, resolve))


# --- the webhook sender -----------------------------------------------------------------------------


class RecordingSession:
    """A client session that must not be used: a refused delivery sends nothing."""

    def __init__(self) -> None:
        self.posts: list[str] = []

    def post(self, url: object, **kwargs: object) -> Any:
        self.posts.append(str(url))
        raise AssertionError(f"a POST to {url} was attempted")


def delivery(url: str, session: Any, resolve: Any, allow: list[str] | None = None) -> SubscriptionDelivery:
    spec = StreamWebhookSpec.model_validate({"url": url, "secretRef": {"name": "s"}, "timeoutSeconds": 5})
    settings = OperatorSettings(egress=EgressSettings(allow_cidrs=allow or []))
    sub = Subscription(uid="u1", namespace="ns", name="hooks", generation=1, spec=spec)
    state = SimpleNamespace(settings=settings)
    return SubscriptionDelivery(sub, None, store=None, state=state, session=session, resolve=resolve)  # type: ignore[arg-type]


def event(seq: int = 1) -> PendingEvent:
    body = {"id": f"e{seq}", "type": "dev.streamops.stream.active", "specversion": "1.0", "source": "/s"}
    return PendingEvent(seq=seq, recorded_at=0.0, event=body, pending=["u1"])


def test_a_refused_delivery_says_refused_by_policy_and_nothing_else() -> None:
    """Finding 10: before, the operator POSTed anywhere and lastFailure told "connection refused"
    from a timeout, with the duration: a port scanner of the cluster's network."""
    gone = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    urls = {
        f"http://{METADATA}/latest/meta-data/": answers([METADATA])[0],
        "http://[fe80::a9fe:a9fe]:80/": answers([])[0],
        f"http://{OTHER_SERVICE}:8080/status": answers(["10.243.0.15"])[0],
        f"http://{OTHER_SERVICE}:9999/status": answers(gone)[0],  # a Service that does not exist
        "http://intranet.example.com:22/": answers(["192.168.1.10"])[0],
    }
    for url, resolve in urls.items():
        session = RecordingSession()
        sender = delivery(url, session, resolve)
        assert run(sender._send(event(), [b"secret"])) is False
        failure = sender.record.last_failure
        assert failure is not None and session.posts == []
        assert (failure["error"], failure["httpStatus"], failure["durationMs"]) == (REFUSED, None, 0), url


def test_deliveries_go_to_the_checked_address_and_never_follow_a_redirect() -> None:
    """A real client and receivers on 127.0.0.1 and 127.0.0.2, the allow-list naming 127.0.0.1 only.
    A name answering 127.0.0.1 then 127.0.0.2 (rebinding) gets the first POST on 127.0.0.1 with its
    own Host header and the second refused; a receiver redirecting to 127.0.0.2 is not followed."""

    async def scenario() -> None:
        received: dict[str, list[str]] = {"127.0.0.1": [], "127.0.0.2": []}

        async def hook(request: web.Request) -> web.StreamResponse:
            received[request.transport.get_extra_info("sockname")[0]].append(f"{request.host} {request.path}")
            if request.path == "/redirect":
                raise web.HTTPTemporaryRedirect(f"http://127.0.0.2:{port}/hook")
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/{tail:.*}", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        first = web.TCPSite(runner, "127.0.0.1", 0)
        await first.start()
        port = first._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await web.TCPSite(runner, "127.0.0.2", port).start()
        session = webhook_session()
        try:
            resolve, _ = answers(["127.0.0.1"], ["127.0.0.2"])
            sender = delivery(f"http://rebind.example:{port}/hook", session, resolve, allow=["127.0.0.1/32"])
            assert await sender._send(event(1), [b"secret"]) is True
            assert received == {"127.0.0.1": [f"rebind.example:{port} /hook"], "127.0.0.2": []}
            assert await sender._send(event(2), [b"secret"]) is False
            assert sender.record.last_failure is not None and sender.record.last_failure["error"] == REFUSED

            redirecting = delivery(f"http://127.0.0.1:{port}/redirect", session, resolve, allow=["127.0.0.1/32"])
            assert await redirecting._send(event(3), [b"secret"]) is False
            assert redirecting.record.last_failure is not None
            assert redirecting.record.last_failure["error"] == "HTTP 307"
            assert received["127.0.0.2"] == [], "the redirect was followed to a refused address"
        finally:
            await session.close()
            await runner.cleanup()

    run(scenario())


def test_a_receiver_refusing_connections_is_reported_as_before_when_allowed() -> None:
    """Allowed destinations keep their plain errors (the admin chose them)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()

    async def scenario() -> None:
        session = aiohttp.ClientSession()
        try:
            sender = delivery(f"http://127.0.0.1:{port}/", session, answers([])[0], allow=["127.0.0.1/32"])
            assert await sender._send(event(), [b"secret"]) is False
            assert sender.record.last_failure is not None
            assert sender.record.last_failure["error"].startswith("cannot connect")
        finally:
            await session.close()

    run(scenario())


# --- the renderer's configuration ---------------------------------------------------------------------


def test_the_admins_policy_reaches_the_renderer_only_when_set() -> None:
    from streamops.contract.egress_policy import configured_policy
    from streamops.contract.overlay import OverlayRendererConfig

    assert configured_policy([], []) is None, "the default: an overlay config (Pod hash) as before"
    policy = configured_policy(["10.241.0.1/32"], ["10.242.0.0/16"], "cluster.local")
    assert policy is not None and not policy.refuses(ip("10.241.0.1")) and policy.refuses(ip("10.242.0.7"))
    config = OverlayRendererConfig(stream="cam", egress=policy)
    assert json.loads(config.to_json())["egress"] == {
        "allowCidrs": ["10.241.0.1/32"], "clusterCidrs": ["10.242.0.0/16"], "clusterDomain": "cluster.local"
    }  # fmt: skip
    assert "egress" not in json.loads(OverlayRendererConfig(stream="cam").to_json())


def test_the_operators_allow_list_reaches_the_overlay_sidecar() -> None:
    from devtools.catalog import stored_livestream
    from streamops.control.livestream.specs.overlay_sidecar import overlay_sidecar

    ladder = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}
    page = {"name": "score", "url": "http://10.241.0.1/", "left": 5, "top": 5, "width": 40, "height": 20}
    stream = stored_livestream(transcoding=ladder, overlays=[page])
    settings = OperatorSettings(egress=EgressSettings(allow_cidrs=["10.241.0.1/32"]))
    sidecar = overlay_sidecar(stream, settings)
    assert sidecar is not None
    config = json.loads(sidecar["env"][0]["value"])
    assert config["egress"]["allowCidrs"] == ["10.241.0.1/32"]
    default = overlay_sidecar(stream, OperatorSettings())
    assert default is not None and "egress" not in json.loads(default["env"][0]["value"])
