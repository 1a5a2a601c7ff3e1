"""The one table of playback cache lifetimes (contract/cache_policy.py, docs/design/cdn.md): every kind
of answer gets a deliberate Cache-Control and Surrogate-Control; a signed stream's are never shared;
and the ingest's classification of its routes (media/ingest/cache_headers.py)."""

from __future__ import annotations

import re

import pytest
from devtools.catalog import livestream
from pydantic import ValidationError
from streamops.api import LIVESTREAM, LiveStream
from streamops.api.crd import crd_manifest
from streamops.contract.cache_policy import IMMUTABLE_SECONDS, Kind, Timing, cache_headers, max_age
from streamops.media.ingest.cache_headers import kind_of

TWO = Timing(segment_seconds=2, screenshot_seconds=10)

# The table of docs/design/cdn.md for 2 s segments and 10 s screenshots.
TABLE = {
    Kind.LIVE_PLAYLIST: ("public, max-age=1", "max-age=1"),
    Kind.LL_PLAYLIST: ("public, no-cache", "no-cache"),
    Kind.BLOCKING_PLAYLIST: ("public, max-age=6", "max-age=6"),
    Kind.ENDED_PLAYLIST: ("public, max-age=2", "max-age=2"),
    Kind.VOD_PLAYLIST: (f"public, max-age={IMMUTABLE_SECONDS}, immutable", f"max-age={IMMUTABLE_SECONDS}"),
    Kind.MANIFEST: ("public, max-age=1", "max-age=1"),
    Kind.SEGMENT: (f"public, max-age={IMMUTABLE_SECONDS}, immutable", f"max-age={IMMUTABLE_SECONDS}"),
    Kind.PART: ("public, max-age=6", "max-age=6"),
    Kind.INIT: ("public, max-age=2", "max-age=2"),
    Kind.DASH_SEGMENT: ("public, max-age=6", "max-age=6"),
    Kind.SCREENSHOT: ("public, max-age=5", "max-age=5"),
    Kind.PLAYER_PAGE: ("private, no-cache", "no-store"),
    Kind.BROADCAST_STATE: ("public, max-age=1", "max-age=1"),
    Kind.PLAYER_ASSET: ("public, no-cache", "no-cache"),
    Kind.VERSIONED_ASSET: (f"public, max-age={IMMUTABLE_SECONDS}, immutable", f"max-age={IMMUTABLE_SECONDS}"),
    Kind.KEY: ("private, no-store", "no-store"),
    Kind.PER_VIEWER: ("no-store", "no-store"),
    Kind.NOT_FOUND: ("public, max-age=1", "max-age=1"),
    Kind.REFUSAL: ("no-store", "no-store"),
    Kind.ERROR: ("no-store", "no-store"),
}


def test_every_kind_has_a_deliberate_policy():
    assert set(TABLE) == set(Kind)
    for kind, (cache_control, surrogate) in TABLE.items():
        assert cache_headers(kind, TWO) == {"Cache-Control": cache_control, "Surrogate-Control": surrogate}, kind


def test_a_signed_stream_is_never_shared_cacheable():
    for kind in Kind:
        headers = cache_headers(kind, TWO, signed=True)
        assert "public" not in headers["Cache-Control"], kind
        assert headers["Cache-Control"].startswith(("private", "no-store")), kind
        assert headers["Surrogate-Control"] == "no-store", kind
    # The viewer's own browser keeps a signed segment as long as a public one.
    assert cache_headers(Kind.SEGMENT, TWO, signed=True)["Cache-Control"] == (
        f"private, max-age={IMMUTABLE_SECONDS}, immutable"
    )


@pytest.mark.parametrize(
    ("segment", "live", "listed"), [(1, 1, 3), (2, 1, 6), (4, 2, 12), (6, 3, 18), (10, 5, 30), (0.5, 1, 2)]
)
def test_live_lifetimes_follow_the_target_duration(segment, live, listed):
    timing = Timing(segment_seconds=segment)
    assert max_age(Kind.LIVE_PLAYLIST, timing) == live  # half a target duration, at least 1 s
    assert max_age(Kind.BLOCKING_PLAYLIST, timing) == max_age(Kind.PART, timing) == listed
    assert max_age(Kind.LIVE_PLAYLIST, timing) <= max(1, segment / 2)


@pytest.mark.parametrize(
    ("method", "path", "query", "status", "low_latency", "kind"),
    [
        ("GET", "/hls/cmaf/index.m3u8", {}, 200, False, Kind.LIVE_PLAYLIST),
        ("GET", "/streams/ns/cam/t/v1~k~1~~s/hls/cmaf/index.m3u8", {}, 200, True, Kind.LL_PLAYLIST),
        ("GET", "/hls/ts/index.m3u8", {}, 200, True, Kind.LIVE_PLAYLIST),  # the TS playlist has no parts
        ("GET", "/hls/cmaf/index.m3u8", {"_HLS_msn": "5", "_HLS_part": "1"}, 200, True, Kind.BLOCKING_PLAYLIST),
        ("GET", "/hls/cmaf/720p/index.m3u8", {"get_duration_sec": "true"}, 200, False, Kind.LIVE_PLAYLIST),
        ("GET", "/hls/cmaf/part-12.m4s", {}, 200, True, Kind.PART),
        ("GET", "/hls/cmaf/seg-1764300000.m4s", {"duration_sec": "2"}, 200, True, Kind.SEGMENT),
        ("HEAD", "/hls/ts/seg-1764300000.ts", {}, 200, False, Kind.SEGMENT),
        ("GET", "/hls/cmaf/init.mp4", {}, 200, False, Kind.INIT),
        ("GET", "/dash/manifest.mpd", {}, 200, False, Kind.MANIFEST),
        ("GET", "/dash/init-0.m4s", {}, 200, False, Kind.INIT),
        ("GET", "/dash/chunk-0-000001.m4s", {}, 200, False, Kind.DASH_SEGMENT),
        ("GET", "/dash/time", {}, 200, False, Kind.PER_VIEWER),
        ("GET", "/time", {}, 200, False, Kind.PER_VIEWER),
        ("GET", "/streams/ns/cam/t/v1~k~1~~s/key/0a1b2c3d-881500", {}, 200, True, Kind.KEY),
        ("GET", "/screenshot.jpg", {}, 200, False, Kind.SCREENSHOT),
        ("GET", "/streams/ns/cam/player", {}, 200, False, Kind.PLAYER_PAGE),
        ("GET", "/streams/ns/cam/broadcasts/keynote/player", {}, 200, False, Kind.PLAYER_PAGE),
        ("GET", "/streams/ns/cam/t/v1~k~1~~s/broadcasts/keynote/state.json", {}, 200, False, Kind.BROADCAST_STATE),
        ("GET", "/broadcasts/keynote/other.json", {}, 200, False, Kind.PER_VIEWER),
        ("GET", "/player/hls.min.js", {}, 200, False, Kind.PLAYER_ASSET),
        ("GET", "/player/", {}, 302, False, Kind.PER_VIEWER),
        ("POST", "/whep", {}, 201, False, Kind.PER_VIEWER),
        ("OPTIONS", "/hls/cmaf/index.m3u8", {}, 204, False, Kind.PER_VIEWER),
        ("GET", "/publish", {}, 200, False, Kind.PER_VIEWER),
        ("GET", "/healthz", {}, 200, False, Kind.PER_VIEWER),
        ("GET", "/hls/cmaf/seg-1.m4s", {}, 404, False, Kind.NOT_FOUND),
        ("GET", "/hls/cmaf/index.m3u8", {}, 401, False, Kind.REFUSAL),
        ("GET", "/t/x/hls/cmaf/index.m3u8", {}, 403, False, Kind.REFUSAL),
        ("GET", "/hls/cmaf/index.m3u8", {}, 429, False, Kind.REFUSAL),
        ("GET", "/hls/cmaf/index.m3u8", {"_HLS_msn": "x"}, 400, True, Kind.ERROR),
        ("GET", "/hls/cmaf/index.m3u8", {"_HLS_msn": "99"}, 503, True, Kind.ERROR),
        ("GET", "/hls/ts/index.m3u8", {}, 409, False, Kind.ERROR),
    ],
)
def test_the_ingest_classifies_each_route(method, path, query, status, low_latency, kind):
    assert kind_of(method, path, query, status, low_latency) == kind


def cdn_stream(cdn: dict) -> LiveStream:
    return LiveStream.model_validate(livestream("cam", playback={"cdn": cdn}))


@pytest.mark.parametrize("host", ["cdn.example.com", "video.example.com:8443", "edge-1.cdn.example.net", "cdn"])
def test_a_cdn_host_is_a_dns_name_with_an_optional_port(host):
    stream = cdn_stream({"host": host})
    assert stream.spec.playback.cdn is not None and stream.spec.playback.cdn.https


@pytest.mark.parametrize(
    "host",
    [
        "https://cdn.example.com",
        "cdn.example.com/path",
        "*.example.com",
        "CDN.example.com",
        "cdn.example.com:0",
        "cdn.example.com:65536",
        "cdn..example.com",
        "-cdn.example.com",
        "",
        "cdn.example.com:",
    ],
)
def test_a_bad_cdn_host_is_refused_by_the_model_and_the_crd(host):
    with pytest.raises(ValidationError):
        cdn_stream({"host": host})
    schema = crd_manifest(LIVESTREAM)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    cdn = schema["properties"]["spec"]["properties"]["playback"]["properties"]["cdn"]
    assert cdn["required"] == ["host"]
    pattern = cdn["properties"]["host"]["pattern"]
    assert host == "" or not re.match(pattern, host), host
    assert "CDN" in cdn["description"] and "private" in cdn["properties"]["host"]["description"]
