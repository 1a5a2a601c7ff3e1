"""The push endpoints and playback URLs status shows (specs/urls.py): none carries the key."""

from __future__ import annotations

from functools import partial

from devtools.catalog import stored_livestream
from streamops.api import LiveStream
from streamops.control.livestream.exposure import PlaybackBase, Reach, ReachInputs, ingest_reach
from streamops.control.livestream.specs.features import ingest_roles
from streamops.control.livestream.specs.urls import ingest_endpoints, playback_base, playback_urls
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, in_cluster_host

stream = partial(stored_livestream, uid="uid-1", generation=1)


def test_endpoints_and_playback_carry_no_key():
    s = stream(source={"push": {"backup": True}})
    assert ingest_roles(s) == ["primary", "backup"]
    reaches = {role: in_cluster(s, role) for role in ingest_roles(s)}
    endpoints = ingest_endpoints(s, reaches)
    assert endpoints.push_url == "rtmp://cam-ingest.media.svc:1935/live"
    assert endpoints.backup_push_url_srt == "srt://cam-ingest-backup.media.svc:9998"
    assert endpoints.stream_key_secret == "cam-stream-key"
    assert endpoints.exposure == "ClusterIP"
    playback = playback_urls(s, playback_base(None, reaches["primary"]))
    assert playback.hls_cmaf_url == "http://cam-ingest.media.svc:8080/hls/cmaf/index.m3u8"
    assert playback.player_url == "http://cam-ingest.media.svc:8080/player"
    dash = stream(dash=True)
    assert playback_urls(dash, playback_base(None, in_cluster(dash, "primary"))).dash_url == (
        "http://cam-ingest.media.svc:8080/dash/manifest.mpd"
    )


def in_cluster(s: LiveStream, role) -> Reach:
    return ingest_reach(None, ReachInputs(in_cluster_host(s, role), POD_NETWORK_PORTS))


def test_a_cdn_host_names_the_cacheable_urls_and_keeps_the_origin_path():
    s = stream(dash=True, playback={"cdn": {"host": "cdn.example.com"}})
    base = PlaybackBase("http://play.example.com/streams/media/cam", "Ingress", "anywhere that reaches play")
    playback = playback_urls(s, base, whep=True)
    assert playback.hls_cmaf_url == "https://cdn.example.com/streams/media/cam/hls/cmaf/index.m3u8"
    assert playback.dash_url == "https://cdn.example.com/streams/media/cam/dash/manifest.mpd"
    assert playback.screenshot_url == "https://cdn.example.com/streams/media/cam/screenshot.jpg"
    assert playback.player_url == "https://cdn.example.com/streams/media/cam/player"
    # WebRTC signalling is per viewer: never through the cache.
    assert playback.whep_url == "http://play.example.com/streams/media/cam/whep"
    assert "cdn.example.com" in (playback.reachable_from or "")
    # Straight to the ingest (no route): the CDN's origin is its address, at the root.
    plain = stream(playback={"cdn": {"host": "cdn.example.com:8080", "https": False}})
    direct = playback_urls(plain, playback_base(None, in_cluster(plain, "primary")))
    assert direct.hls_cmaf_url == "http://cdn.example.com:8080/hls/cmaf/index.m3u8"
    # Without a CDN the URLs are the origin's, as before.
    assert playback_urls(stream(), base).player_url == "http://play.example.com/streams/media/cam/player"
