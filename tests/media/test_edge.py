"""The edge (streamops/media/edge: Debian's nginx + its Lua module) in front of a real signed LL-HLS
ingest worker with real FFmpeg, on 127.0.0.1 (docs/design/playback.md, "The edge"): viewers
blocking on the same part cause one origin request, parts, init and segments repeat from the cache, a
playlist without blocking arguments is never a part behind the origin, the edge answers bad tokens
itself, keys rotate, no token reaches its logs, viewers are counted by session and protocol and
/metrics is Prometheus text. What no viewer may make it ask the origin for: a stream the routes file
does not list, a path or method the ingest's public face does not serve, a blocking request too far
ahead of the live edge, or a new cache key per _HLS_msn value or argument spelling (issue 37)."""

from __future__ import annotations

import dataclasses
import http.client
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from devtools.http_client import http_get, http_request
from devtools.media.edge import Edge, missing_packages
from devtools.media.hls import listed_durations
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.workers import Ingest
from devtools.waits import wait_for
from prometheus_client.parser import text_string_to_metric_families
from streamops.contract.playback_token import Refusal, session_hash, session_id, sign
from streamops.media.ingest.viewers import SESSIONS_PER_SOURCE

pytestmark = pytest.mark.skipif(bool(missing_packages()), reason=f"needs {' '.join(missing_packages())}")

NAMESPACE, NAME = "demo", "cam"
STREAM = f"{NAMESPACE}/{NAME}"
PREFIX = f"/streams/{NAMESPACE}/{NAME}"
PLAYLIST = "hls/cmaf/index.m3u8"
LISTED_PART = re.compile(r'#EXT-X-PART:DURATION=[\d.]+,URI="part-(\d+)\.m4s"')
SEGMENT = re.compile(r"^(seg-\d+\.m4s)$", re.M)
CACHE = "X-Streamops-Edge-Cache"
WINDOW_SECONDS = 3


@dataclass
class Stand:
    ingest: Ingest
    edge: Edge
    keys: Path
    current: bytes

    def token(self, key: bytes | None = None, expires_in: int = 600, ip: str = "") -> str:
        return sign(key or self.current, STREAM, int(time.time()) + expires_in, ip)

    def edge_url(self, path: str, token: str | None = "", query: str = "") -> str:
        """`token`: "" signs with the current key, None sends none."""
        token = self.token() if token == "" else token
        return f"{self.edge.http}{PREFIX}{f'/t/{token}' if token else ''}/{path}{query}"

    def origin_url(self, path: str, query: str = "") -> str:
        return f"{self.ingest.http}{PREFIX}/t/{self.token()}/{path}{query}"

    def origin_requests(self, kind: str) -> float:
        return self.edge.total("streamops_edge_origin_requests_total", stream=NAME, kind=kind)

    def ingest_requests_via_edge(self, kind: str) -> float:
        """The ingest's own count of requests an edge sent it (streamops_playback_requests_total)."""
        text = http_get(self.ingest.control + "/metrics")[1].decode()
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "streamops_playback_requests_total" and (s.labels["kind"], s.labels["via"]) == (kind, "edge")
        )


def write_keys(directory: Path, current: bytes, previous: bytes | None) -> None:
    write_playback_keys(directory, current, previous)


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """One signed LL-HLS ingest (200 ms parts, 1 s GOP) on air, and an edge with two workers (so that
    collapsing across workers is exercised) and a 3 s viewer window in front of it."""
    work = tmp_path_factory.mktemp("edge")
    keys = work / "keys"
    keys.mkdir()
    current = os.urandom(32)
    write_keys(keys, current, os.urandom(32))
    (work / "ingest").mkdir()
    playback = {"namespace": NAMESPACE, "access": "signed", "keysDir": str(keys)}
    ingest = Ingest(work / "ingest", hls={"latencyMode": "low"}, pathPrefix=PREFIX, playback=playback)
    edge = Edge(
        work / "edge",
        NAMESPACE,
        f"http://127.0.0.1:{ingest.http_port}",
        keys_dir=keys,
        routes={PREFIX: NAME},
        env={"STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS": str(WINDOW_SECONDS)},
    )
    publisher = None
    try:
        ingest.start()
        edge.start()
        publisher = Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1)
        publisher.start()
        ingest.wait_live()
        stand = Stand(ingest, edge, keys, current)
        wait_for(lambda: http_get(stand.origin_url(PLAYLIST))[1].count(b"#EXTINF") >= 2, timeout=30, what="2 segments")
        yield stand
    finally:
        if publisher is not None:
            publisher.stop()
        edge.stop()
        ingest.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return http_request("GET", url, headers=headers, timeout=20)


def get_from(
    source: str, url: str, headers: Sequence[tuple[str, str]] = (), connection: http.client.HTTPConnection | None = None
) -> tuple[int, dict[str, str], bytes]:
    """GET from the loopback address `source` (any of 127.0.0.0/8: a viewer of its own), each header
    line as given (a name twice: two lines); on `connection` (kept alive) when given."""
    parts = urlsplit(url)
    conn = connection or http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=20, source_address=(source, 0)
    )
    try:
        conn.putrequest("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        if connection is None:
            conn.close()


def live_position(text: str) -> int:
    """The number of the last part a playlist lists (parts are numbered across segments)."""
    return max(int(n) for n in LISTED_PART.findall(text))


def test_fifty_viewers_blocking_on_the_next_part_make_one_origin_request(stand: Stand) -> None:
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
    # The first part of the segment after the one in progress: 0.2-2 s away, so all 50 wait for it.
    query = f"?_HLS_msn={sequence + text.count('#EXTINF') + 1}&_HLS_part=0"
    get(stand.edge_url(PLAYLIST))  # as a player does first: the edge learns where the live edge is
    origin_before = stand.origin_requests("playlist_blocking")
    ingest_before = stand.ingest_requests_via_edge("playlist")
    log_before = stand.edge.access_log.read_text()

    start = threading.Barrier(50)
    answers: list[tuple[int, dict[str, str], bytes]] = []

    def viewer(i: int) -> None:
        start.wait()
        answers.append(get(stand.edge_url(PLAYLIST, query=query + f"&_sid=viewer-{i}")))

    threads = [threading.Thread(target=viewer, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert [a[0] for a in answers] == [200] * 50, [(a[0], a[2][:100]) for a in answers if a[0] != 200]
    assert len({a[2] for a in answers}) == 1, "one answer for all"
    ways = [a[1].get(CACHE) for a in answers]
    assert ways.count("miss") == 1 and ways.count("collapsed") >= 25, ways
    print(f"50 blocking reloads: {dict(Counter(ways))}")
    # Counted three ways: the edge's metrics, its own log of origin requests, the ingest's counter.
    assert stand.origin_requests("playlist_blocking") - origin_before == 1

    def origin_lines() -> list[str]:
        new_log = stand.edge.access_log.read_text()[len(log_before) :]
        return [line for line in new_log.splitlines() if "kind=origin" in line and query in line]

    wait_for(origin_lines, timeout=5, what="the access log (flushed every second)")
    time.sleep(1.1)  # and anything that came with it
    assert len(origin_lines()) == 1, origin_lines()
    assert stand.ingest_requests_via_edge("playlist") - ingest_before == 1


def test_parts_init_and_segments_repeat_from_the_cache(stand: Stand) -> None:
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    part = f"hls/cmaf/part-{live_position(text) - 1}.m4s"
    segment = "hls/cmaf/" + SEGMENT.findall(text)[-1]
    # The init segment the playlist names (`init-<n>.mp4`, one per session: handover.md) and the
    # on-air session's `init.mp4`.
    named = "hls/cmaf/" + re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)[-1]
    assert named != "hls/cmaf/init.mp4", "the playlist names a session's own init segment"
    cases = (
        (part, "part", "miss", "hit"),
        (named, "init", "miss", "hit"),
        ("hls/cmaf/init.mp4", "init", "miss", "hit"),
        (segment, "segment", "miss", "hit"),
    )
    for path, kind, first, again in cases:
        before = stand.origin_requests(kind)
        origin = get(stand.origin_url(path))[2]
        answers = [get(stand.edge_url(path)) for _ in range(3)]
        assert [(a[0], a[1].get(CACHE)) for a in answers] == [(200, first), (200, again), (200, again)], path
        assert all(a[2] == origin for a in answers), f"{path}: the origin's bytes"
        assert stand.origin_requests(kind) - before == 1, path


def test_a_cached_segment_is_sent_whole_or_in_ranges_with_the_origins_type(stand: Stand) -> None:
    """Segments are files of the edge's own (sendfile from offset 0): a viewer's Range is answered
    from it, and the origin's Content-Type and CORS headers come along."""
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    segment = "hls/cmaf/" + SEGMENT.findall(text)[-2]
    _, origin_headers, origin = get(stand.origin_url(segment))
    status, headers, _ = get(stand.edge_url(segment))
    assert status == 200 and headers.get("Content-Type") == origin_headers.get("Content-Type")
    assert headers.get("Access-Control-Allow-Origin") == origin_headers.get("Access-Control-Allow-Origin")
    status, headers, body = get(stand.edge_url(segment), headers={"Range": "bytes=100-1099"})
    assert (status, headers.get(CACHE), body) == (206, "hit", origin[100:1100])
    assert headers.get("Content-Range") == f"bytes 100-1099/{len(origin)}"
    # The origin's cache policy comes along from the edge's cache (docs/design/cdn.md): a signed
    # stream's segment is the viewer's own, no shared cache in front of the edge keeps it.
    for name in ("Cache-Control", "Surrogate-Control"):
        assert headers.get(name) == origin_headers.get(name), name
    assert headers.get("Cache-Control", "").startswith("private,") and headers.get("Surrogate-Control") == "no-store"


def test_a_playlist_without_blocking_arguments_is_cached_less_than_a_part(stand: Stand) -> None:
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    part = float(re.search(r"#EXT-X-PART-INF:PART-TARGET=([\d.]+)", text)[1])  # type: ignore[index]
    # Cached: back-to-back requests share an answer.
    ways = [get(stand.edge_url(PLAYLIST))[1].get(CACHE) for _ in range(10)]
    assert "hit" in ways, ways
    # Never longer than one part: a part after a fetch, the next request fetches again.
    for _ in range(5):
        get(stand.edge_url(PLAYLIST))
        time.sleep(part)
        assert get(stand.edge_url(PLAYLIST))[1].get(CACHE) == "miss"

    # How far behind the origin's that makes it, in parts (the origin asked right after the edge):
    # printed, not asserted (a loaded machine publishes parts in bursts).
    behind = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        edge = live_position(get(stand.edge_url(PLAYLIST))[2].decode())
        behind.append(live_position(get(stand.origin_url(PLAYLIST))[2].decode()) - edge)
    print(f"edge playlist behind the origin's (parts: samples): {dict(sorted(Counter(behind).items()))}")


def durations_listed(text: str) -> list[tuple[float, float]]:
    """(the tag's duration, the URI's duration_sec) of every segment and part a playlist lists."""
    segments, parts = listed_durations(text)
    return [(item.tag, float(item.duration)) for item in segments + parts]


def test_playlists_with_durations_are_cached_apart_and_media_with_them_as_without(stand: Stand) -> None:
    """`?get_duration_sec=true` (signed, through the edge): the playlists' own key and origin request,
    blocking reloads and delta updates included; a part or segment asked for with its duration_sec=
    is the plain one's cache entry, and its viewer is counted."""
    modifier = "?get_duration_sec=true"
    plain, timed = get(stand.edge_url(PLAYLIST)), get(stand.edge_url(PLAYLIST, query=modifier))
    assert plain[0] == timed[0] == 200 and b"duration_sec" not in plain[2], "each its own entry"
    pairs = durations_listed(timed[2].decode())
    assert len(pairs) > 10 and all(abs(tag - value) < 1e-9 for tag, value in pairs), pairs
    assert b"duration_sec" not in get(stand.edge_url(PLAYLIST))[2], "the plain entry stays plain"
    assert "duration_sec" in get(stand.edge_url(PLAYLIST, query=modifier + "&_sid=x"))[2].decode()

    text = get(stand.origin_url(PLAYLIST))[2].decode()
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
    blocking = f"?_HLS_msn={sequence + text.count('#EXTINF')}&_HLS_part=0"  # the segment in progress
    before = stand.origin_requests("playlist_blocking")
    answers = [get(stand.edge_url(PLAYLIST, query=f"{blocking}&get_duration_sec=true")) for _ in range(2)]
    assert [(a[0], a[1].get(CACHE)) for a in answers] == [(200, "miss"), (200, "hit")]
    assert durations_listed(answers[0][2].decode())
    assert stand.origin_requests("playlist_blocking") - before == 1
    assert b"duration_sec" not in get(stand.edge_url(PLAYLIST, query=blocking))[2]
    delta = get(stand.edge_url(PLAYLIST, query="?_HLS_skip=YES&get_duration_sec=true"))
    assert delta[0] == 200 and durations_listed(delta[2].decode())

    part = re.search(r'URI="(part-\d+\.m4s)\?duration_sec=([\d.]+)"', timed[2].decode())
    assert part, timed[2]
    path = f"hls/cmaf/{part[1]}"
    origin = get(stand.origin_url(path))[2]
    before = stand.origin_requests("part")
    first = get(stand.edge_url(path))
    again = get(stand.edge_url(path, query=f"?duration_sec={part[2]}&_sid=durations"))
    assert (first[0], again[0], again[1].get(CACHE)) == (200, 200, "hit") and first[2] == again[2] == origin
    assert stand.origin_requests("part") - before <= 1, "one entry, with or without duration_sec"
    assert session_hash("durations") in stand.edge.viewers()["streams"][STREAM]["llhls"]


def newest_listed(text: str) -> str:
    """The blocking arguments for the newest part a playlist lists."""
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
    tail = text.rsplit("#EXTINF", 1)[1]
    listed = len(LISTED_PART.findall(tail))
    if listed:
        return f"?_HLS_msn={sequence + text.count('#EXTINF')}&_HLS_part={listed - 1}"
    return f"?_HLS_msn={sequence + text.count('#EXTINF') - 1}"


def test_an_origin_answer_newer_than_asked_answers_its_own_newest_part_too(stand: Stand) -> None:
    """The origin answers a blocking request with its newest playlist. When that lists more than the
    edge knew (a loaded origin, a viewer who last asked parts ago), the next viewer asking for what
    it lists (the edge's "now": its newest part) is served that answer, not a second origin request;
    and asking again for exactly what was asked is served what was cached for it."""
    for _ in range(5):
        text = get(stand.edge_url(PLAYLIST))[2].decode()  # what the edge knows
        time.sleep(1.0)  # the origin moves on by several parts; the edge does not look
        stale = newest_listed(text)
        before = stand.origin_requests("playlist_blocking")
        # A miss, or a hit when an earlier test asked this very part within BLOCKING_TTL.
        first = get(stand.edge_url(PLAYLIST, query=stale))
        assert first[0] == 200 and first[1].get(CACHE) in ("miss", "hit"), first[:2]
        newer = newest_listed(first[2].decode())
        if newer != stale:
            break  # the answer lists more than was asked: what this test is about
    else:
        pytest.fail("five blocking answers listed no more than was asked")
    second = get(stand.edge_url(PLAYLIST, query=newer + "&_sid=next"))
    again = get(stand.edge_url(PLAYLIST, query=stale + "&_sid=again"))
    assert [r[1].get(CACHE) for r in (second, again)] == ["hit", "hit"], (second[:2], again[:2])
    assert again[2] == first[2] and newest_listed(second[2].decode()) == newer
    assert stand.origin_requests("playlist_blocking") - before <= 1


@pytest.mark.parametrize(
    "case, refusal",
    [
        ("forged", Refusal.INVALID),
        ("other stream", Refusal.INVALID),
        ("expired", Refusal.EXPIRED),
        ("unknown key", Refusal.UNKNOWN_KEY),
        ("other viewer", Refusal.OTHER_VIEWER),
    ],
)
def test_the_edge_refuses_a_bad_token_itself(stand: Stand, case: str, refusal: Refusal) -> None:
    token = {
        "forged": stand.token()[:-4] + "AAAA",
        "other stream": sign(stand.current, f"{NAMESPACE}/other", int(time.time()) + 600),
        "expired": stand.token(expires_in=-60),
        "unknown key": stand.token(key=os.urandom(32)),
        "other viewer": stand.token(ip="10.9.8.7"),
    }[case]
    origin_before = sum(v for _, v in stand.edge.samples("streamops_edge_origin_requests_total"))
    refused_before = stand.edge.total("streamops_playback_refusals_total", stream=NAME, reason=refusal.reason)
    for path in (PLAYLIST, "hls/cmaf/part-1.m4s", "hls/cmaf/seg-000001.m4s", "player"):
        status, headers, body = get(stand.edge_url(path, token=token))
        assert (status, body.decode()) == (refusal.status, refusal.body + "\n"), (path, status, body)
        assert headers.get("Cache-Control") == "no-store" and headers.get("Access-Control-Allow-Origin") == "*"
        assert headers.get("Surrogate-Control") == "no-store"
    assert sum(v for _, v in stand.edge.samples("streamops_edge_origin_requests_total")) == origin_before
    refused = stand.edge.total("streamops_playback_refusals_total", stream=NAME, reason=refusal.reason)
    assert refused - refused_before == 4


def test_an_unsigned_request_reaches_the_ingest_which_refuses_it_and_that_is_cached(stand: Stand) -> None:
    before = stand.origin_requests("part")
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    path = f"hls/cmaf/part-{live_position(text)}.m4s"
    answers = [get(stand.edge_url(path, token=None)) for _ in range(3)]
    assert [(a[0], a[2].decode()) for a in answers] == [(401, Refusal.MISSING.body + "\n")] * 3
    assert [a[1].get(CACHE) for a in answers] == ["miss", "hit", "hit"], "401 kept a second"
    assert stand.origin_requests("part") - before == 1
    # The signed request for the same part has a cache entry of its own.
    assert get(stand.edge_url(path))[0] == 200


def test_a_stream_listed_public_has_its_token_stripped_not_checked(stand: Stand) -> None:
    """The contract: a public stream ignores a token. The edge learns it from the routes file; here the
    ingest is signed, so the token-less request the edge forwards is the ingest's 401 (not the edge's
    403), which shows the edge neither refused nor forwarded the expired token."""
    expired = stand.token(expires_in=-60)
    before = stand.origin_requests("playlist")
    stand.edge.set_routes({PREFIX: NAME}, public={NAME})
    try:
        answer = wait_for(
            lambda: (a := get(stand.edge_url(PLAYLIST, token=expired)))[0] != 403 and a, timeout=5, what="public"
        )
        assert (answer[0], answer[2].decode()) == (401, Refusal.MISSING.body + "\n")
        assert stand.origin_requests("playlist") > before
    finally:
        stand.edge.set_routes({PREFIX: NAME})
        stand.edge.every_worker_reads()
        wait_for(
            lambda: all(get(stand.edge_url(PLAYLIST, token=expired))[0] == 403 for _ in range(6)),
            timeout=10,
            what="every worker signed again",
        )


def test_a_token_of_the_previous_key_plays_until_that_key_is_dropped(stand: Stand) -> None:
    old, new = stand.current, os.urandom(32)
    old_token, new_token = stand.token(), stand.token(key=new)
    assert get(stand.edge_url(PLAYLIST, token=new_token))[0] == 403, "not yet known"
    try:
        write_keys(stand.keys, new, old)  # rotate: previous := current, current := new
        # Both read the files again within a second; the ingest sees the request the edge passes.
        direct = f"{stand.ingest.http}{PREFIX}/t/{new_token}/{PLAYLIST}"
        wait_for(lambda: get(direct)[0] == 200, timeout=5, what="the ingest has the new key")
        wait_for(lambda: get(stand.edge_url(PLAYLIST, token=new_token))[0] == 200, timeout=5, what="new key")
        assert get(stand.edge_url(PLAYLIST, token=old_token))[0] == 200
        write_keys(stand.keys, new, None)  # the next rotation drops the old key
        wait_for(lambda: get(stand.edge_url(PLAYLIST, token=old_token))[0] == 403, timeout=5, what="old key gone")
        stand.edge.files_written()
        stand.edge.every_worker_reads()  # one worker has read the files again; now every one will
        unknown = (Refusal.UNKNOWN_KEY.status, Refusal.UNKNOWN_KEY.body + "\n")

        def refused_unknown() -> bool:
            status, _, body = get(stand.edge_url(PLAYLIST, token=old_token))
            return (status, body.decode()) == unknown

        wait_for(
            lambda: all(refused_unknown() for _ in range(6)),
            timeout=10,
            what="every worker without the old key",
        )
        wait_for(lambda: get(stand.edge_url(PLAYLIST, token=new_token))[0] == 200, timeout=5, what="new key plays")
    finally:
        write_keys(stand.keys, old, os.urandom(32))
        stand.edge.files_written()
        stand.edge.every_worker_reads()
        # The ingest reads the same files (within a second too): until it has them back, it would
        # refuse what the edge lets through, and the edge's worker would refuse that token a minute.
        wait_for(lambda: get(stand.origin_url(PLAYLIST))[0] == 200, timeout=5, what="ingest keys back")
        wait_for(lambda: get(stand.edge_url(PLAYLIST, token=old_token))[0] == 200, timeout=5, what="edge keys back")


def test_no_token_reaches_the_edge_logs(stand: Stand) -> None:
    tokens = [stand.token(), stand.token(expires_in=-60), stand.token()[:-4] + "AAAA"]
    for token in tokens:
        for path in (PLAYLIST, "hls/cmaf/init.mp4", "player", "no-such-file"):
            get(stand.edge_url(path, token=token, query="?_HLS_msn=999999&_sid=secret-session"))
    wait_for(lambda: "/t/-/" in stand.edge.logs(), timeout=5, what="the access log (flushed every second)")
    time.sleep(1.1)  # every line of the requests above: the log is flushed every second
    logs = stand.edge.logs()
    assert "/t/-/" in logs, "the requests were logged, token blanked"
    for token in tokens:
        assert token not in logs and token.rsplit("~", 1)[-1] not in logs
    assert "secret-session" not in logs, "nor the session id"


def test_viewers_follow_sessions_joining_and_leaving(stand: Stand) -> None:
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    part = f"hls/cmaf/part-{live_position(text)}.m4s"
    segment = "hls/cmaf/" + SEGMENT.findall(text)[-1]
    agent = "edge-test-player/1.0"
    get(stand.edge_url(part, query="?_sid=ll-one"))  # LL-HLS: a part
    get(stand.edge_url(PLAYLIST, query="?_sid=ll-two"))
    get(stand.edge_url(part, query="?_sid=ll-two"))  # plain playlist then a part: llhls only
    get(stand.edge_url(segment, query="?_sid=hls-one"))  # standard HLS
    get(stand.edge_url(PLAYLIST), headers={"User-Agent": agent})  # no _sid: client address + UA
    get(stand.edge_url(PLAYLIST, token=stand.token()[:-4] + "AAAA", query="?_sid=refused"))  # not a viewer

    viewers = stand.edge.viewers()
    assert viewers["windowSeconds"] == WINDOW_SECONDS
    seen = viewers["streams"][STREAM]
    assert set(seen["llhls"]) >= {session_hash("ll-one"), session_hash("ll-two")}, seen
    assert session_hash("hls-one") in seen["hls"] and session_hash("ll-two") not in seen["hls"], seen
    assert session_hash(session_id(None, "127.0.0.1", agent)) in seen["hls"]
    assert session_hash("refused") not in seen["hls"] + seen["llhls"]
    gauge = stand.edge.total("streamops_viewers", namespace=NAMESPACE, stream=NAME, protocol="llhls")
    assert gauge == len(seen["llhls"]) >= 2

    def left() -> bool:
        return not stand.edge.viewers()["streams"].get(STREAM, {}).get("llhls")

    wait_for(left, timeout=WINDOW_SECONDS + 3, what="sessions expired")
    assert stand.edge.total("streamops_viewers", stream=NAME, protocol="llhls") == 0


def test_metrics_are_prometheus_text_with_bounded_labels(stand: Stand) -> None:
    get(stand.edge_url(PLAYLIST))
    families = {f.name: f for f in text_string_to_metric_families(stand.edge.metrics_text())}
    expected = {
        "streamops_edge_requests": ("counter", {"namespace", "stream", "kind", "cache"}),
        "streamops_edge_origin_requests": ("counter", {"namespace", "stream", "kind"}),
        "streamops_playback_refusals": ("counter", {"namespace", "stream", "reason"}),
        "streamops_viewers": ("gauge", {"namespace", "stream", "protocol"}),
    }
    for name, (kind, labels) in expected.items():
        assert families[name].type == kind, name
        for sample in families[name].samples:
            assert set(sample.labels) == labels, sample
            assert sample.labels["namespace"] == NAMESPACE
    kinds = {s.labels["kind"] for s in families["streamops_edge_requests"].samples}
    assert kinds <= {"playlist", "playlist_blocking", "part", "segment", "init", "manifest", "other"}, kinds


def test_the_edge_believes_no_forwarded_address_from_an_untrusted_peer(stand: Stand) -> None:
    """Issue 37, finding 3: a token bound to a viewer address was honoured for whoever sent
    X-Forwarded-For with it (edge.lua took its first entry). Without trusted proxies (the default),
    nginx's $remote_addr, the TCP peer, is the viewer."""
    token = stand.token(ip="10.9.8.7")
    for forged in ("10.9.8.7", "192.0.2.1, 10.9.8.7"):
        status, _, body = get(stand.edge_url(PLAYLIST, token=token), {"X-Forwarded-For": forged})
        assert (status, body.decode()) == (Refusal.OTHER_VIEWER.status, Refusal.OTHER_VIEWER.body + "\n"), forged
    assert get(stand.edge_url(PLAYLIST, token=stand.token(ip="127.0.0.1")), {"X-Forwarded-For": "10.9.8.7"})[0] == 200


def origin_requests_total(stand: Stand) -> tuple[float, float]:
    """Every origin request (the edge's count, the ingest's count of requests an edge sent it)."""
    edge = sum(v for _, v in stand.edge.samples("streamops_edge_origin_requests_total"))
    text = http_get(stand.ingest.control + "/metrics")[1].decode()
    ingest = sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "streamops_playback_requests_total" and s.labels["via"] == "edge"
    )
    return edge, ingest


def live_edge(stand: Stand) -> tuple[int, int]:
    """(the segment in progress, its last listed part) of the origin's playlist now."""
    text = get(stand.origin_url(PLAYLIST))[2].decode()
    sequence = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
    tail = text.rsplit("#EXTINF", 1)[1]
    return sequence + text.count("#EXTINF"), len(LISTED_PART.findall(tail)) - 1


def test_only_the_streams_the_routes_list_are_served_and_nothing_else_is_asked_for(stand: Stand) -> None:
    before = origin_requests_total(stand)
    for name in ("other", "a" * 60, "a.b", "a" * 70, "UPPER", "-dash", "cam-"):
        status, _, body = get(f"{stand.edge.http}/streams/{NAMESPACE}/{name}/{PLAYLIST}")
        assert (status, body) == (404, b"no such stream on this edge\n"), name
    for path in (f"/streams/{NAMESPACE}/../x/{PLAYLIST}", f"/streams/other-ns/{NAME}/{PLAYLIST}", "/status", "/"):
        assert get(stand.edge.http + path)[0] in (400, 404), path
    assert origin_requests_total(stand) == before, "no origin request for any of them"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "PROPFIND"])
def test_other_paths_and_methods_are_refused_without_an_origin_request(stand: Stand, method: str) -> None:
    before = origin_requests_total(stand)
    for path in ("player", "screenshot.jpg", PLAYLIST, "hls/cmaf/part-1.m4s", "time", "feed", "status", "x/y"):
        status, headers, _ = http_request(method, stand.edge_url(path), body=b"{}", timeout=10)
        assert status in (404, 405), (method, path, status)
        if status == 405:
            assert "GET" in headers.get("Allow", ""), (method, path, headers)
    for path in (
        "feed",
        "status",
        "metrics",
        "viewers",
        "overlays",
        "hls/cmaf/index.txt",
        "whip",
        "publish",
        "player/a/b",
        "broadcasts/Keynote/state.json",
        "broadcasts/k/other.json",
        "broadcasts/k/player/x",
        "broadcasts/state.json",
    ):
        assert get(stand.edge_url(path))[0] == 404, path  # a token segment never reaches WHIP or publish
    status, headers, _ = http_request("OPTIONS", stand.edge_url(PLAYLIST), timeout=10)
    assert status == 204 and "GET" in headers.get("Access-Control-Allow-Methods", ""), "preflight, from the edge"
    assert origin_requests_total(stand) == before, "no origin request for any of them"


def test_a_broadcast_s_page_and_state_pass_to_the_ingest(stand: Stand) -> None:
    """docs/design/broadcasts.md: the two paths under a stream's prefix go to its ingest, uncached (this
    ingest was told of no broadcast: its own 404 comes back, and asking again asks it again)."""
    before = origin_requests_total(stand)
    for path in ("broadcasts/keynote/state.json", "broadcasts/keynote/player", "broadcasts/keynote/state.json"):
        status, _, body = get(stand.edge_url(path))
        assert (status, body) == (404, b"no broadcast 'keynote' on this stream\n"), path
    assert origin_requests_total(stand)[0] - before[0] == 3


def test_a_key_path_passes_to_the_ingest_every_time_and_nothing_like_it_does(stand: Stand) -> None:
    """docs/design/protection.md: an encrypted stream's key is passed with the token, never stored (this
    ingest encrypts nothing: its own 404 comes back, and asking again asks it again); a path that is no
    key id is the edge's 404."""
    before = origin_requests_total(stand)
    too_long = "key/0a1b2c3d-" + "1" * 20
    for path in (
        "key",
        "key/",
        "key/x",
        "key/0a1b2c3d",
        "key/0a1b2c3d-",
        "key/0a1b2c3d-1/x",
        "key/0A1B2C3D-1",
        too_long,
    ):
        assert get(stand.edge_url(path))[0] == 404, path
    assert origin_requests_total(stand) == before, "no origin request for any of them"
    for _ in range(2):
        status, headers, _ = get(stand.edge_url("key/0a1b2c3d-1"))
        assert status == 404 and headers.get(CACHE) != "hit"
    assert origin_requests_total(stand)[0] - before[0] == 2
    assert get(stand.edge_url("key/0a1b2c3d-1", token="v1~forged~1~~x"))[0] == 403, "the token first"


def test_blocking_requests_too_far_ahead_are_400_without_an_origin_request(stand: Stand) -> None:
    text = get(stand.edge_url(PLAYLIST))[2].decode()  # the edge has seen the live edge
    part = float(re.search(r"#EXT-X-PART-INF:PART-TARGET=([\d.]+)", text)[1])  # type: ignore[index]
    msn, _ = live_edge(stand)
    before = origin_requests_total(stand)
    started = time.monotonic()
    for query in (f"?_HLS_msn={msn + 3}", f"?_HLS_msn={msn + 3}&_HLS_part=0", "?_HLS_msn=999999999999",
                  f"?_HLS_msn={msn}&_HLS_part=99", "?_HLS_part=1"):  # fmt: skip
        status, headers, _ = get(stand.edge_url(PLAYLIST, query=query))
        assert status == 400 and headers.get("Cache-Control") == "no-store", query
    elapsed = time.monotonic() - started
    after = origin_requests_total(stand)
    # Refusing asks at most for the plain playlist again to be sure it is right: once per its cache
    # lifetime (half a part), never once per refused request. Two when the five take a few ms; on a
    # loaded machine they may span more lifetimes, each allowing one more.
    allowed = 2 + int(elapsed / (part / 2))
    assert after[0] - before[0] <= allowed and after[1] - before[1] <= allowed, (before, after, elapsed, part)


def test_a_thousand_msn_values_and_any_spelling_make_a_bounded_number_of_origin_requests(stand: Stand) -> None:
    get(stand.edge_url(PLAYLIST))
    msn, _ = live_edge(stand)
    before = origin_requests_total(stand)
    # 1,000 distinct values: 994 already listed or gone, the live edge, and past it.
    values = list(range(msn - 994, msn + 6))
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def viewer(chunk: list[int]) -> None:
        for value in chunk:
            status = get(stand.edge_url(PLAYLIST, query=f"?_HLS_msn={value}&_sid=v{value}"))[0]
            with lock:
                answers[value] = status

    began = time.monotonic()
    threads = [threading.Thread(target=viewer, args=(values[i::50],)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    seconds = time.monotonic() - began
    after = origin_requests_total(stand)
    counts = Counter(answers.values())
    print(f"1,000 msn values in {seconds:.2f} s: {dict(counts)}, origin requests {after[0] - before[0]:.0f}")
    assert all(answers[v] == 200 for v in range(msn - 994, msn + 2)), "listed ones at once, the live edge when it comes"
    assert counts[200] + counts[400] == 1000, counts
    # Per playlist a few keys near the live edge, one for everything already listed (it moves with
    # each part) and the plain playlist now and then: not one per value.
    assert after[0] - before[0] <= 40 + 20 * seconds, (seconds, before, after)
    assert after[1] - before[1] <= after[0] - before[0]

    # One blocking request however it is spelled: order, zeros, other arguments, the session id.
    msn, _ = live_edge(stand)
    target = (msn + 1, 0)  # the next segment's first part: it blocks until then
    spellings = (
        f"?_HLS_msn={target[0]}&_HLS_part={target[1]}",
        f"?_HLS_part={target[1]}&foo=bar&_HLS_msn={target[0]}",
        f"?_sid=s&_HLS_msn=0{target[0]}&_HLS_part=00{target[1]}&x",
    )
    before = origin_requests_total(stand)
    ways = [get(stand.edge_url(PLAYLIST, query=q)) for q in spellings]
    assert [w[0] for w in ways] == [200] * 3 and len({w[2] for w in ways}) == 1
    assert [w[1].get(CACHE) for w in ways] == ["miss", "hit", "hit"], ways
    assert origin_requests_total(stand)[0] - before[0] == 1


def test_a_token_the_ingest_refuses_refuses_no_other_viewer(stand: Stand) -> None:
    """Issue 52, finding 7: the ingest's 401/403 was kept a second under the key every token holder
    shares, so one request the edge let through and the ingest refused (keys one side has not read
    yet during a rotation, an expiry at the second, an address the two see otherwise) refused every
    viewer of that object for a second, again at each such request. Here the ingest trusts no proxy,
    so it checks a token bound to 127.0.0.2 against the edge's address: the edge lets the viewer at
    127.0.0.2 through, the ingest refuses it (the other-viewer 403)."""
    bound = stand.token(ip="127.0.0.2")
    live = live_position(get(stand.origin_url(PLAYLIST))[2].decode())
    # A part listed but never asked for through the edge: the bound viewer's request leads.
    path = f"hls/cmaf/part-{live - 1}.m4s"
    status, headers, body = get_from("127.0.0.2", stand.edge_url(path, token=bound))
    assert (status, body.decode(), headers.get(CACHE)) == (403, Refusal.OTHER_VIEWER.body + "\n", "miss")
    status, headers, _ = get(stand.edge_url(path))  # another viewer, a good token, right after
    assert (status, headers.get(CACHE)) == (200, "miss"), "the refusal was not kept for it"
    assert get(stand.edge_url(path))[1].get(CACHE) == "hit", "the good answer is"
    # The edge refuses a token the ingest refused itself now (each worker after its own first try):
    # it leads no more origin requests that others could wait on.
    before = stand.origin_requests("part")
    for number in range(live - 7, live - 1):
        status, _, body = get_from("127.0.0.2", stand.edge_url(f"hls/cmaf/part-{number}.m4s", token=bound))
        assert (status, body.decode()) == (403, Refusal.OTHER_VIEWER.body + "\n")
    assert stand.origin_requests("part") - before <= 1, "one worker's first try at most"


def test_invented_session_ids_count_as_a_bounded_number_of_viewers(stand: Stand, tmp_path: Path) -> None:
    """Issue 52, finding 10: every request with a new `_sid` was a viewer (status.viewers at will).
    One address counts SESSIONS_PER_SOURCE sessions per protocol at most, the ingest's rule; a
    viewer at another address still counts. On an edge of its own whose viewer window outlasts the
    thousand requests however slow the machine (the stand's 3 s did not at load 25: the first
    sessions lapsed and the slots were not all held at the end)."""
    edge = Edge(
        tmp_path / "edge",
        NAMESPACE,
        f"http://127.0.0.1:{stand.ingest.http_port}",
        keys_dir=stand.keys,
        routes={PREFIX: NAME},
        env={"STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS": "600"},
    )
    edge.start()
    try:
        count_invented_sessions(dataclasses.replace(stand, edge=edge))
    finally:
        edge.stop()


def count_invented_sessions(stand: Stand) -> None:
    segment = "hls/cmaf/" + SEGMENT.findall(get(stand.origin_url(PLAYLIST))[2].decode())[-1]
    parts = urlsplit(stand.edge_url(segment))
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20, source_address=("127.0.0.3", 0))
    try:
        for i in range(1000):
            status = get_from("127.0.0.3", stand.edge_url(segment, query=f"?_sid=invented-{i}"), connection=conn)[0]
            assert status == 200
    finally:
        conn.close()
    assert get_from("127.0.0.4", stand.edge_url(segment, query="?_sid=elsewhere"))[0] == 200
    hls = stand.edge.viewers()["streams"][STREAM]["hls"]
    invented = {session_hash(f"invented-{i}") for i in range(1000)}
    # Each a slot of its address: all taken, but for one a new session's few tries may miss.
    assert SESSIONS_PER_SOURCE - 8 <= len(invented & set(hls)) <= SESSIONS_PER_SOURCE, len(invented & set(hls))
    assert session_hash("elsewhere") in hls
    assert stand.edge.total("streamops_viewers", stream=NAME, protocol="hls") <= SESSIONS_PER_SOURCE + 10
    # From 127.0.0.3: the other tests' viewers (127.0.0.1) still count, each address its own bound.


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """A public ingest (not on air: the publish page needs no stream) that serves the stream key's
    routes over HTTPS only, trusting the edge (127.0.0.1) as its proxy, behind an edge that trusts
    127.0.0.2 (the Ingress that ended TLS in front of it)."""
    work = tmp_path_factory.mktemp("edge-proto")
    (work / "ingest").mkdir()
    ingest = Ingest(
        work / "ingest",
        pathPrefix=PREFIX,
        playback={"namespace": NAMESPACE},
        publishOverHttp=False,
        trustedProxies=["127.0.0.1/32"],
    )
    edge = Edge(
        work / "edge",
        NAMESPACE,
        f"http://127.0.0.1:{ingest.http_port}",
        routes={PREFIX: NAME},
        env={"STREAMOPS_EDGE_TRUSTED_PROXIES": "127.0.0.2/32"},
    )
    edge.set_routes({PREFIX: NAME}, public={NAME})
    try:
        ingest.start()
        edge.start()
        yield edge
    finally:
        edge.stop()
        ingest.stop()


@pytest.mark.parametrize(
    "source, lines, status",
    [
        ("127.0.0.1", [], 403),
        ("127.0.0.1", [("X-Forwarded-Proto", "https")], 403),  # a client's own: 200 before
        ("127.0.0.2", [("X-Forwarded-Proto", "https")], 200),  # the trusted proxy's
        ("127.0.0.2", [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")], 403),  # its last line
        ("127.0.0.2", [], 403),
    ],
)
def test_the_edge_passes_on_no_client_s_x_forwarded_proto(
    proxied: Edge, source: str, lines: list[tuple[str, str]], status: int
) -> None:
    """Issue 52, finding 10: the edge passed a client's X-Forwarded-Proto on, and the ingest believes
    it from the edge (a trusted proxy): a plain-HTTP client that said "https" was served the publish
    page and WHIP, which carry the stream key and are HTTPS only. The edge sends its own scheme, or
    what a trusted proxy in front of it said (its last value)."""
    answer = get_from(source, f"{proxied.http}{PREFIX}/publish", lines)
    assert answer[0] == status, answer[2][:300]
