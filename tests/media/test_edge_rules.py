"""A PlaybackPolicy's rules at the edge (edge_rules.lua: Debian's nginx + its Lua module, libmaxminddb
through LuaJIT's FFI) in front of a real LL-HLS ingest with real FFmpeg, on 127.0.0.x
(docs/design/playback-rules.md): a refused viewer gets 403 with the rule, counted by reason, and
never an object the edge has cached for an allowed one; countries from a GeoIP database built for
the test with MaxMind's writer; the ingest's own refusal of a viewer the edge let through is never
kept or shared; a rules edit reaches the running edge. The viewer's address: a forged X-Forwarded-For
sent straight to the edge is ignored, and through a trusted proxy the rightmost untrusted hop counts."""

from __future__ import annotations

import http.client
import http.server
import ipaddress
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.edge import Edge, missing_packages
from devtools.media.geoip import country_database
from devtools.media.peers import Publisher
from devtools.media.workers import Ingest
from devtools.ports import free_port
from devtools.waits import eventually, wait_for
from streamops.api.playback_policy import PlaybackRules
from streamops.contract.edge import RULES_UNAVAILABLE
from streamops.media.edge import RULES_SUFFIX, rules_file

from bench.edge_token import Origin
from tests.media.test_edge import get_from
from tests.unit.media.ingest.test_playback_rules import ROWS

pytestmark = pytest.mark.skipif(bool(missing_packages()), reason=f"needs {' '.join(missing_packages())}")

NAMESPACE, NAME = "demo", "cam"
PREFIX = f"/streams/{NAMESPACE}/{NAME}"
PLAYLIST = "hls/cmaf/index.m3u8"
SEGMENT = re.compile(r"^(seg-\d+\.m4s)$", re.M)
CHROME = ("User-Agent", "Mozilla/5.0 Chrome/131.0")
HEADERS = {"origin": "Origin", "referer": "Referer", "user_agent": "User-Agent"}
RULES: dict[str, Any] = {
    "deniedCIDRs": ["127.0.0.3/32"],
    "deniedCountries": ["US"],
    "allowedReferrers": ["*.partner.test"],
    "allowNoReferrer": True,
    "allowedUserAgents": ["*Chrome/*"],
}


@dataclass
class Stand:
    ingest: Ingest
    edge: Edge
    ingest_rules: Path

    def url(self, path: str) -> str:
        return f"{self.edge.http}{PREFIX}/{path}"

    def set_edge_rules(self, rules: dict[str, Any]) -> None:
        path = self.edge.routes_path.parent / f"{NAME}{RULES_SUFFIX}"
        tmp = path.with_name(".rules.tmp")
        tmp.write_text(rules_file(PlaybackRules.model_validate(rules)))
        tmp.replace(path)

    def refusals(self) -> dict[str, float]:
        return {
            labels["reason"]: value
            for labels, value in self.edge.samples("streamops_playback_refusals_total")
            if labels.get("stream") == NAME
        }


def write_json(path: Path, rules: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rules))
    tmp.replace(path)


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """A public LL-HLS ingest on air that trusts the edge (127.0.0.1) as its proxy, both with the rules
    above, and the GeoIP database placing 127.0.0.4 in the US."""
    work = tmp_path_factory.mktemp("edge-rules")
    geoip = country_database(work / "geoip" / "countries.mmdb", {"127.0.0.4/32": "US", "127.0.0.2/32": "DE"})
    ingest_rules = work / "ingest-rules" / f"{NAME}.json"
    ingest_rules.parent.mkdir()
    write_json(ingest_rules, {**RULES, "deniedCIDRs": ["127.0.0.3/32", "127.0.0.6/32"]})
    (work / "ingest").mkdir()
    playback = {"namespace": NAMESPACE, "rulesFile": str(ingest_rules), "geoipFile": str(geoip)}
    ingest = Ingest(
        work / "ingest",
        hls={"latencyMode": "low"},
        pathPrefix=PREFIX,
        playback=playback,
        trustedProxies=["127.0.0.1/32"],
    )
    edge = Edge(
        work / "edge",
        NAMESPACE,
        f"http://127.0.0.1:{ingest.http_port}",
        routes={PREFIX: NAME},
        env={"STREAMOPS_EDGE_GEOIP_FILE": str(geoip)},
    )
    edge.set_routes({PREFIX: NAME}, public={NAME})
    stand = Stand(ingest, edge, ingest_rules)
    stand.set_edge_rules(RULES)
    publisher = None
    try:
        ingest.start()
        edge.start()
        publisher = Publisher(ingest.rtmp_url(), size="320x180", gop_seconds=1)
        publisher.start()
        ingest.wait_live()

        def segments() -> bool:
            status, _, body = get_from("127.0.0.2", stand.url(PLAYLIST), [CHROME])
            return status == 200 and len(SEGMENT.findall(body.decode())) >= 1

        wait_for(segments, timeout=30, what="a segment listed")
        yield stand
    finally:
        if publisher is not None:
            publisher.stop()
        edge.stop()
        ingest.stop()


def test_a_refused_viewer_gets_the_rule_and_never_a_cached_object(stand: Stand) -> None:
    status, _, body = get_from("127.0.0.2", stand.url(PLAYLIST), [CHROME])
    segment = SEGMENT.findall(body.decode())[-1]
    for _ in range(2):  # the second from the edge's cache
        status, headers, media = get_from("127.0.0.2", stand.url(f"hls/cmaf/{segment}"), [CHROME])
        assert status == 200 and len(media) > 1000
    assert headers.get("X-Streamops-Edge-Cache") == "hit"
    origin = stand.edge.total("streamops_edge_origin_requests_total", stream=NAME)

    cases = [
        ("127.0.0.3", [CHROME], "address"),
        # A denied viewer naming an allowed address: the edge trusts no proxy here, so it is not believed.
        ("127.0.0.3", [CHROME, ("X-Forwarded-For", "127.0.0.2"), ("X-Real-IP", "127.0.0.2")], "address"),
        ("127.0.0.4", [CHROME], "country"),
        ("127.0.0.2", [CHROME, ("Origin", "https://evil.test")], "referrer"),
        ("127.0.0.2", [("User-Agent", "Wget/1.21")], "user_agent"),
    ]
    for source, lines, rule in cases:
        for path in (f"hls/cmaf/{segment}", PLAYLIST, "player", "screenshot.jpg"):
            status, headers, answer = get_from(source, stand.url(path), lines)
            assert (status, headers.get("X-Streamops-Refused")) == (403, rule), (source, path, status, answer[:200])
            assert media[:64] not in answer and headers.get("Cache-Control") == "no-store"
            assert "X-Streamops-Refused" in headers.get("Access-Control-Expose-Headers", "")
    assert stand.edge.total("streamops_edge_origin_requests_total", stream=NAME) == origin, "refused at the edge"
    refusals = stand.refusals()
    assert {r: refusals.get(r) for r in ("address", "country", "referrer", "user_agent")} == {
        "address": 8.0, "country": 4.0, "referrer": 4.0, "user_agent": 4.0,
    }  # fmt: skip
    # Allowed: a partner's page, no page at all, the stream's own (its Host).
    for lines in ([CHROME, ("Referer", "https://www.partner.test/")], [CHROME], [CHROME, ("Origin", stand.edge.http)]):
        assert get_from("127.0.0.2", stand.url(f"hls/cmaf/{segment}"), lines)[0] == 200, lines


def test_the_ingest_s_refusal_of_a_viewer_the_edge_let_through_is_not_kept_or_shared(stand: Stand) -> None:
    """The edge and the ingest read their rules at different moments (kubelet updates each mount on its
    own): here the ingest denies 127.0.0.6, the edge does not. Its refusal reaches that viewer, with the
    rule, and nobody else: not cached under the key every viewer shares, nor handed to collapsed ones."""
    path = "hls/cmaf/init.mp4"
    status, headers, _ = get_from("127.0.0.6", stand.url(path), [CHROME])
    assert (status, headers.get("X-Streamops-Refused")) == (403, "address")
    status, headers, _ = get_from("127.0.0.2", stand.url(path), [CHROME])
    assert (status, headers.get("X-Streamops-Refused")) == (200, None), headers
    # What the edge then keeps is served by its own rules, which let 127.0.0.6 through: the edge's verdict
    # governs its cache, the ingest's what reaches it (docs/design/playback-rules.md, "Two readers").
    status, headers, _ = get_from("127.0.0.6", stand.url(path), [CHROME])
    assert (status, headers.get("X-Streamops-Edge-Cache")) == (200, "hit")


def test_a_rules_edit_reaches_the_running_edge(stand: Stand) -> None:
    ingest_rules = stand.ingest_rules.read_text()
    try:
        write_json(stand.ingest_rules, {})
        stand.set_edge_rules({"deniedCIDRs": ["127.0.0.5/32"]})
        eventually(lambda: get_from("127.0.0.5", stand.url(PLAYLIST), [CHROME])[0] == 403, timeout=10)
        eventually(
            lambda: get_from("127.0.0.2", stand.url(PLAYLIST), [("User-Agent", "Wget/1.21")])[0] == 200, timeout=10
        )
        (stand.edge.routes_path.parent / f"{NAME}{RULES_SUFFIX}").write_text("allow-country XX1\n")
        _, headers, _ = eventually(
            lambda: (a := get_from("127.0.0.2", stand.url(PLAYLIST), [CHROME]))[0] == 503 and a, timeout=10
        )
        assert headers.get("X-Streamops-Refused") == "rules_unavailable", "an unusable file fails closed"
        # A policy with no rule plays; a stream naming a policy that does not exist (the operator's
        # RULES_UNAVAILABLE) is refused, as its ingest refuses with no rules file.
        rules_path = stand.edge.routes_path.parent / f"{NAME}{RULES_SUFFIX}"
        rules_path.write_text("")
        eventually(lambda: get_from("127.0.0.2", stand.url(PLAYLIST), [CHROME])[0] == 200, timeout=10)
        rules_path.write_text(RULES_UNAVAILABLE)
        _, headers, _ = eventually(
            lambda: (a := get_from("127.0.0.2", stand.url(PLAYLIST), [CHROME]))[0] == 503 and a, timeout=10
        )
        assert headers.get("X-Streamops-Refused") == "rules_unavailable", "a missing policy fails closed"
    finally:
        stand.set_edge_rules(RULES)
        stand.ingest_rules.write_text(ingest_rules)
    assert http_get(stand.edge.status + "/healthz")[0] == 200


def ask(port: int, path: str, headers: list[tuple[str, str]]) -> tuple[int, dict[str, str]]:
    """GET with exactly these header lines (Host among them; no User-Agent unless given)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        answer.read()
        return answer.status, dict(answer.getheaders())
    finally:
        connection.close()


# Left of the proxy's own entry, what a viewer wrote: placed nowhere and in no row's ranges, so an edge
# that believed it would turn the address and country rows' verdicts.
WRITTEN_BY_THE_VIEWER = "192.0.2.66"


def test_the_edge_decides_the_ingest_s_table(tmp_path: Path) -> None:
    """Every row of the ingest's decision table (tests/unit/media/ingest/test_playback_rules.py) asked of
    the edge, a stream of its own per row, the viewer's address through a trusted proxy's
    X-Forwarded-For after an entry the viewer wrote itself (the rightmost untrusted hop counts: as
    Traefik, appending, hands it on), a country from a database that places it: the same verdict from
    the Lua."""
    rows, networks = [], {}
    for i, (name, rules, facts, verdict) in enumerate(ROWS):
        facts = dict(facts)
        try:
            ipaddress.ip_address(facts["address"])
        except ValueError:
            continue  # an address nginx's realip cannot carry
        if "country" in facts or "allowedCountries" in rules or "deniedCountries" in rules:
            if not (rules.get("allowedCIDRs") or rules.get("deniedCIDRs")):
                facts["address"] = f"198.18.{i}.1"  # an address of its own, placed as the row says
            if facts.get("country"):
                networks[f"{facts['address']}/32"] = facts["country"]
        rows.append((f"r{i}", name, rules, facts, verdict))
    geoip = country_database(tmp_path / "countries.mmdb", networks or {"192.0.2.1/32": "DE"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    routes = {f"/streams/{NAMESPACE}/{stream}": stream for stream, *_ in rows}
    edge = Edge(
        tmp_path / "edge",
        NAMESPACE,
        f"http://127.0.0.1:{server.server_port}",
        routes=routes,
        env={"STREAMOPS_EDGE_GEOIP_FILE": str(geoip), "STREAMOPS_EDGE_TRUSTED_PROXIES": "127.0.0.1/32"},
    )
    edge.set_routes(routes, public=set(routes.values()))
    for stream, _, rules, _, _ in rows:
        (tmp_path / "edge" / f"{stream}{RULES_SUFFIX}").write_text(rules_file(PlaybackRules.model_validate(rules)))
    try:
        with edge:
            wrong = []
            for stream, name, _, facts, verdict in rows:
                forwarded = f"{WRITTEN_BY_THE_VIEWER}, {facts['address']}"
                headers = [("X-Forwarded-For", forwarded), ("Host", facts.get("host") or "edge.test")]
                headers += [(h, facts[k]) for k, h in HEADERS.items() if facts.get(k) is not None]
                status, answer = ask(edge.http_port, f"/streams/{NAMESPACE}/{stream}/time", headers)
                got = answer.get("X-Streamops-Refused")
                if got != verdict or (status == 200) != (verdict is None):
                    wrong.append((name, verdict, status, got))
            assert wrong == [], wrong
    finally:
        server.shutdown()
