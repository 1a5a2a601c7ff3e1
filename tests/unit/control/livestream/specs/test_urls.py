"""The push endpoints and playback URLs status shows (specs/urls.py): none carries the key."""

from __future__ import annotations

from functools import partial

from devtools.catalog import stored_livestream
from streamops.api import LiveStream
from streamops.control.livestream.exposure import Reach, ReachInputs, ingest_reach
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
