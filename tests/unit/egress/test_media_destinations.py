"""Issue 52, finding 9: pull URLs and restream targets through the egress guard — the pure decisions
(egress/media_destinations.py, media/ingest/pull_egress.py) with the test's own resolver: which
destinations are refused, how each protocol is pinned to the checked address (and what keeps the
name), rebinding, and what a refusal says. Real FFmpeg and real peers: tests/media/test_rtsp_pull.py,
test_pusher.py."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from streamops.contract.egress_policy import REFUSED, EgressPolicy, EgressRefused
from streamops.egress.media_destinations import (
    Destination,
    PinnedMedia,
    destination,
    pinned,
    pinned_to,
    rtmp_app,
    static_refusal,
)
from streamops.media.ingest.pull_egress import NOT_RESOLVED, PullEgress, refusal_message

PUBLIC = "93.184.216.34"
Resolve = Callable[[str, int], Awaitable[list[str]]]


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def answers(*rounds: list[str]) -> tuple[Resolve, list[str]]:
    """A resolver giving `rounds` in turn (the last one again after), and the names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        answer = rounds[min(len(asked), len(rounds) - 1)]
        asked.append(host)
        return answer

    return resolve, asked


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def resolver(**names: list[str]) -> Resolve:
    """Names (dots and dashes as underscores) and their answers; any other name does not resolve."""

    async def resolve(host: str, port: int) -> list[str]:
        try:
            return names[host.rstrip(".").replace(".", "_").replace("-", "_")]
        except KeyError:
            raise OSError("Name or service not known") from None

    return resolve


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtmp://origin.example/live/s", Destination("rtmp", "origin.example", 1935)),
        ("rtmps://a.rtmps.youtube.com/live2", Destination("rtmps", "a.rtmps.youtube.com", 443)),
        ("srt://Origin.Example:9000?mode=caller", Destination("srt", "origin.example", 9000)),
        ("rtsp://cam.lan/ch1", Destination("rtsp", "cam.lan", 554)),
        ("rtsps://cam.lan/ch1", Destination("rtsps", "cam.lan", 322)),
        ("https://cdn.example/live.m3u8", Destination("https", "cdn.example", 443)),
        ("http://[2001:4860::8888]:8080/a.ts", Destination("http", "2001:4860::8888", 8080)),
    ],
)
def test_the_first_destination_of_each_scheme(url: str, expected: Destination) -> None:
    assert destination(url) == expected


@pytest.mark.parametrize(
    "url",
    ["srt://origin.example?mode=caller", "file:///etc/passwd", "rtmp://origin.example:99999/live", "rtmp:///live",
     "rtmp://[::1/live", "concat:a|b"],
)  # fmt: skip
def test_no_usable_destination_is_refused(url: str) -> None:
    with pytest.raises(EgressRefused):
        destination(url)
    assert static_refusal(url, EgressPolicy())


def test_addresses_written_in_the_url_are_refused_before_anything_resolves() -> None:
    """What admission can say of the text alone: a literal address the policy refuses."""
    policy = EgressPolicy()
    inside = ["rtmp://127.0.0.1/live/s", "rtsp://169.254.169.254/", "srt://10.0.0.5:9000?mode=caller",
              "rtmp://[::ffff:127.0.0.1]/live", "http://[fd00::1]/x.m3u8", "rtsp://192.168.1.20:554/ch1"]  # fmt: skip
    for url in inside:
        assert static_refusal(url, policy), url
    assert not static_refusal(f"rtmp://{PUBLIC}/live/s", policy)
    assert not static_refusal("rtmp://internal.svc.cluster.local/live", policy), "names: resolved by the worker"
    cameras = EgressPolicy(allow_cidrs=["192.168.1.0/24"])  # the documented way to allow a camera LAN
    assert not static_refusal("rtsp://192.168.1.20:554/ch1", cameras)


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("/live/key", "live"),
        ("/live", "live"),
        ("/app/instance/key", "app/instance"),
        ("/live/key?token=a", "live"),
        ("/live/mp4:key/x", "live"),  # a ':' before the next '/': a playpath, not an instance
        ("/ondemand/file", "ondemand"),
        ("/live/key?slist=k", "live/key?slist=k"),
        ("", ""),
    ],
)
def test_the_rtmp_application_is_ffmpegs(path: str, app: str) -> None:
    assert rtmp_app(path) == app


def test_each_protocol_is_pinned_with_the_name_kept_where_it_counts() -> None:
    address = ip(PUBLIC)
    assert pinned_to("rtmp://origin.example/live/s", address) == PinnedMedia(
        f"rtmp://{PUBLIC}:1935/live/s", {"rtmp_tcurl": "rtmp://origin.example:1935/live"}
    )
    assert pinned_to("rtmps://origin.example/app/inst/s?x=1", address) == PinnedMedia(
        f"rtmps://{PUBLIC}:443/app/inst/s?x=1",
        {"rtmp_tcurl": "rtmps://origin.example:443/app/inst", "verifyhost": "origin.example"},
    )
    assert pinned_to("srt://origin.example:9000?mode=caller&latency=200000", address) == PinnedMedia(
        f"srt://{PUBLIC}:9000?mode=caller&latency=200000", {}
    )
    assert pinned_to("rtsp://cam.example/Streaming/Channels/101", address) == PinnedMedia(
        f"rtsp://{PUBLIC}:554/Streaming/Channels/101", {}
    )
    assert pinned_to("rtsps://cam.example:8322/s1", address) == PinnedMedia(
        f"rtsps://{PUBLIC}:8322/s1", {"verifyhost": "cam.example"}
    )
    v6 = ip("2001:4860::8888")
    assert pinned_to("rtmp://origin.example/live/s", v6).url == "rtmp://[2001:4860::8888]:1935/live/s"
    # An address in the URL is what it is: nothing else to keep.
    assert pinned_to(f"rtmps://{PUBLIC}/live/s", address) == PinnedMedia(f"rtmps://{PUBLIC}:443/live/s", {})
    with pytest.raises(EgressRefused):
        pinned_to("https://cdn.example/a.m3u8", address)  # http(s): the proxy's, not pinned here


def test_a_rebound_name_is_connected_to_as_first_checked_and_refused_after() -> None:
    """DNS rebinding: the name answers a public address, then 127.0.0.1; each attempt resolves once
    and FFmpeg gets the address that was checked, never the name."""
    resolve, asked = answers([PUBLIC], ["127.0.0.1"])
    first = run(pinned("rtmp://rebind.example/live/s", EgressPolicy(), resolve))
    assert first.url == f"rtmp://{PUBLIC}:1935/live/s"
    with pytest.raises(EgressRefused):
        run(pinned("rtmp://rebind.example/live/s", EgressPolicy(), resolve))
    assert asked == ["rebind.example.", "rebind.example."], "resolved once per attempt, as an absolute name"


def test_internal_destinations_are_refused_public_typos_are_not() -> None:
    policy = EgressPolicy(cluster_cidrs=["203.0.113.0/24"])
    resolve = resolver(
        metadata_internal=["169.254.169.254"],
        mixed_example=["10.0.0.7", PUBLIC],
        pods_example=["203.0.113.9"],
        camera_lan=["192.168.1.20"],
    )
    for url in ("rtsp://metadata.internal/", "srt://pods.example:9000?mode=caller", "rtmp://camera.lan/live/s",
                "rtmp://cam-ingest.other-ns.svc/live/s", "rtmp://localhost/live/s"):  # fmt: skip
        with pytest.raises(EgressRefused):
            run(pinned(url, policy, resolve))
    assert run(pinned("rtmp://mixed.example/live/s", policy, resolve)).url.startswith(f"rtmp://{PUBLIC}:")
    allowed = EgressPolicy(allow_cidrs=["192.168.1.0/24"])
    assert run(pinned("rtsp://camera.lan/ch1", allowed, resolve)).url == "rtsp://192.168.1.20:554/ch1"
    with pytest.raises(OSError) as typo:
        run(pinned("rtmp://no-such-origin.example/live/s", policy, resolve))
    assert not isinstance(typo.value, EgressRefused)


def test_what_status_says_of_a_destination_the_guard_did_not_open() -> None:
    """Nothing about the destination: no address, no port state, the one message."""
    assert refusal_message(EgressRefused()) == REFUSED == "refused by policy"
    assert refusal_message(OSError("Name or service not known")) == NOT_RESOLVED


def test_http_pulls_go_through_the_guard_proxy_which_notes_its_refusals() -> None:
    async def scenario() -> None:
        resolve = resolver(cdn_example=["127.0.0.1"], inside_example=["127.0.0.2"])
        egress = PullEgress(EgressPolicy(allow_cidrs=["127.0.0.1/32"]), resolve)
        await egress.start(["rtmp://origin.example/live/s"])
        assert egress.proxy is None, "no http(s) URL: no proxy"
        await egress.start(["rtmp://origin.example/live/s", "https://cdn.example/live.m3u8"])
        try:
            assert egress.proxy is not None
            target = await egress.attempt("https://cdn.example/live.m3u8")
            assert target == PinnedMedia(
                "https://cdn.example/live.m3u8", {"http_proxy": f"http://{egress.proxy.address}"}
            )
            with pytest.raises(EgressRefused):
                await egress.attempt("http://inside.example/live.m3u8")
            assert not egress.refused_during()
            # A redirect or a segment to a refused address, asked of the proxy by FFmpeg:
            reader, writer = await asyncio.open_connection(*egress.proxy.address.split(":"))
            writer.write(b"GET http://inside.example/seg1.ts HTTP/1.1\r\nHost: inside.example\r\n\r\n")
            answer = await reader.read()
            writer.close()
            assert answer.startswith(b"HTTP/1.1 403") and answer.endswith(REFUSED.encode())
            assert egress.refused_during()
        finally:
            await egress.close()

    run(scenario())


def test_the_operators_policy_reaches_pull_ingests_and_pushers_only_when_set() -> None:
    """The same settings as the webhooks and overlay pages (networkPolicy.egressAllowCIDRs and
    clusterCIDRs); unset, the workers' configurations (and Pods' hashes) stay what they were, and a
    push ingest never gets one (it connects nowhere a tenant names)."""
    import json

    from devtools.catalog import stored_livestream, stored_restream
    from streamops.api import LiveStream, Restream
    from streamops.control.livestream.specs.pod import ingest_pod
    from streamops.control.restream.specs.worker_config import pusher_config
    from streamops.control.shared.settings import EgressSettings, OperatorSettings

    admin = OperatorSettings(egress=EgressSettings(allow_cidrs=["192.168.1.0/24"], cluster_cidrs=["10.96.0.0/12"]))
    pull = LiveStream.model_validate(stored_livestream(source={"pull": {"urls": ["rtsp://192.168.1.20/ch1"]}}))
    push = LiveStream.model_validate(stored_livestream())

    def ingest_config(stream: LiveStream, settings: OperatorSettings) -> dict[str, Any]:
        env = ingest_pod(stream, "primary", settings)["spec"]["containers"][0]["env"]
        return dict(json.loads(env[0]["value"]))

    assert ingest_config(pull, admin)["egress"] == {
        "allowCidrs": ["192.168.1.0/24"],
        "clusterCidrs": ["10.96.0.0/12"],
        "clusterDomain": "cluster.local",
    }
    assert "egress" not in ingest_config(pull, OperatorSettings())
    assert "egress" not in ingest_config(push, admin)
    restream = Restream.model_validate(stored_restream())
    pusher = pusher_config(restream, push, admin, None, 8080)
    assert pusher.egress is not None and pusher.egress.allow_cidrs == ["192.168.1.0/24"]
    assert pusher_config(restream, push, OperatorSettings(), None, 8080).egress is None
