"""A PlaybackPolicy's rules on a real ingest worker (docs/design/playback-rules.md): requests from
127.0.0.x, straight and through a trusted proxy's X-Forwarded-For, with referrers and user agents,
are served or refused 403 with the rule in X-Streamops-Refused on every playback path, counted by
reason; countries from a GeoIP database built for the test with MaxMind's writer; a rules edit
reaches the live worker without a restart. No publisher: the gate answers before any media is
asked for, and the player page and the clock are served without one."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from devtools.http_client import http_get
from devtools.media.geoip import country_database
from devtools.waits import eventually

NAMESPACE = "media"
PREFIX = "/streams/media/cam"
# Every playback path the gate guards (the token-less forms; the signed forms go through the same guard).
PATHS = [
    "/player",
    "/time",
    "/hls/cmaf/index.m3u8",
    "/hls/cmaf/index.m3u8?_HLS_msn=5&_HLS_part=0",
    "/hls/cmaf/part-3.m4s",
    "/hls/cmaf/seg-1.m4s",
    "/hls/cmaf/init.mp4",
    "/hls/ts/index.m3u8",
    "/dash/manifest.mpd",
    "/screenshot.jpg",
    f"{PREFIX}/player",
    f"{PREFIX}/hls/cmaf/index.m3u8",
]
PLAYER_PAGE = "http://play.example.net/streams/media/cam/player"


def request(
    base: str, path: str, source: str = "127.0.0.1", method: str = "GET", **headers: str
) -> tuple[int, dict[str, str]]:
    """One request from `source` (a loopback address of its own: what the worker sees as its peer)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=15, source_address=(source, 0))
    try:
        connection.request(method, path, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status, dict(answer.getheaders())
    finally:
        connection.close()


def refused(base: str, path: str, source: str = "127.0.0.1", **headers: str) -> str | None:
    """The rule that refused the request, or None when the gate let it through."""
    status, answer = request(base, path, source, **headers)
    rule = answer.get("X-Streamops-Refused")
    assert (status == 403) == (rule is not None and rule not in ("geoip_unavailable", "rules_unavailable")), (
        path,
        status,
        answer,
    )
    return rule


def refusals(ingest: Any) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in http_get(ingest.control + "/metrics")[1].decode().splitlines():
        if line.startswith("streamops_playback_refusals_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = counts.get(reason, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def write_rules(path: Path, rules: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(rules))
    tmp.replace(path)


def test_rules_refuse_on_every_path_with_the_rule_and_count_it(ingest_factory, tmp_path):
    rules_file = tmp_path / "rules" / "cam.json"
    rules_file.parent.mkdir()
    write_rules(
        rules_file,
        {
            "deniedCIDRs": ["127.0.0.3/32", "2001:db8:bad::/48"],
            "deniedCountries": ["US"],
            "allowedReferrers": ["example.com", "*.partner.test"],
            "allowNoReferrer": True,
            "allowedUserAgents": ["*Chrome/*", "VLC/*", "curl/*", "Python-urllib/*"],
        },
    )
    geoip = country_database(tmp_path / "geoip" / "countries.mmdb", {"127.0.0.4/32": "US", "198.51.100.0/24": "US"})
    playback = {"namespace": NAMESPACE, "rulesFile": str(rules_file), "geoipFile": str(geoip)}
    # 127.0.0.1 is the proxy in front (an Ingress, the edge): its X-Forwarded-For names the viewer.
    ingest = ingest_factory(playback=playback, pathPrefix=PREFIX, trustedProxies=["127.0.0.1/32"])
    base, chrome = ingest.http, {"User-Agent": "Mozilla/5.0 Chrome/131.0"}

    # Served: an allowed viewer, straight or through the proxy, from an allowed page or none.
    assert request(base, "/player", "127.0.0.2", **chrome)[0] == 200
    assert request(base, "/time", "127.0.0.1", **chrome, **{"X-Forwarded-For": "192.0.2.7"})[0] == 200
    for path in PATHS:
        assert refused(base, path, "127.0.0.2", **chrome, Referer="https://www.partner.test/live") is None, path

    # Refused on every path, the rule named.
    for path in PATHS:
        assert refused(base, path, "127.0.0.3", **chrome) == "address", path
        assert refused(base, path, "127.0.0.4", **chrome) == "country", path
        assert refused(base, path, "127.0.0.2", **chrome, Origin="https://evil.test") == "referrer", path
        assert refused(base, path, "127.0.0.2", **{"User-Agent": "Wget/1.21"}) == "user_agent", path
    # The proxy's X-Forwarded-For decides the address (and so the country); an untrusted peer's is ignored.
    assert refused(base, "/player", "127.0.0.1", **chrome, **{"X-Forwarded-For": "127.0.0.3"}) == "address"
    assert refused(base, "/player", "127.0.0.1", **chrome, **{"X-Forwarded-For": "198.51.100.9"}) == "country"
    assert refused(base, "/player", "127.0.0.2", **chrome, **{"X-Forwarded-For": "127.0.0.3"}) is None
    # The stream's own page (its Host, or the proxy's X-Forwarded-Host) is always an allowed referrer.
    own = {"Host": "play.example.net", "Referer": PLAYER_PAGE}
    assert refused(base, "/hls/cmaf/index.m3u8", "127.0.0.2", **chrome, **own) is None
    forwarded = {"X-Forwarded-Host": "play.example.net", "Referer": PLAYER_PAGE}
    assert refused(base, "/hls/cmaf/index.m3u8", "127.0.0.1", **chrome, **forwarded) is None
    assert refused(base, "/hls/cmaf/index.m3u8", "127.0.0.2", **chrome, **forwarded) == "referrer"
    # WHEP's offer (POST) goes through the same gate.
    status, answer = request(base, "/whep", "127.0.0.3", "POST", **chrome, **{"Content-Type": "application/sdp"})
    assert (status, answer.get("X-Streamops-Refused")) == (403, "address")
    assert "X-Streamops-Refused" in answer.get("Access-Control-Expose-Headers", ""), "a page elsewhere reads it"

    n = len(PATHS)
    assert refusals(ingest) == {"address": n + 2, "country": n + 1, "referrer": n + 1, "user_agent": n}

    # An edit reaches the running worker (no restart): 127.0.0.3 allowed, only 127.0.0.2's range denied.
    write_rules(rules_file, {"deniedCIDRs": ["127.0.0.2/32"]})
    eventually(lambda: refused(base, "/player", "127.0.0.2", **chrome) == "address", timeout=10)
    assert refused(base, "/player", "127.0.0.3", **chrome) is None
    assert refused(base, "/player", "127.0.0.4", **{"User-Agent": "Wget/1.21"}) is None

    # Unreadable rules fail closed (503), as a missing GeoIP database under country rules does.
    rules_file.write_text("{")
    eventually(lambda: request(base, "/player", "127.0.0.3", **chrome)[0] == 503, timeout=10)
    assert request(base, "/player", "127.0.0.3", **chrome)[1].get("X-Streamops-Refused") == "rules_unavailable"
