"""Which public requests take a blocking slot, and which are answered on the face's own loop
(streamops.media.ingest.held_requests)."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from streamops.media.ingest.held_requests import answered_on_the_face, held_requests

PART = "/streams/ns/cam/hls/cmaf/part-7.m4s"
RENDITION_PART = "/streams/ns/cam/hls/cmaf/720p/part-7.m4s"
DASH_SEGMENT = "/streams/ns/cam/dash/chunk-0-000001.m4s"
OTHERS = (
    "/streams/ns/cam/hls/cmaf/seg-3.m4s",
    "/streams/ns/cam/hls/ts/part-7.m4s",
    "/streams/ns/cam/dash/manifest.mpd",
)


def test_llhls_parts_are_held_and_low_latency_dash_segments_when_the_stream_has_them():
    for dash in (False, True):
        held = held_requests(dash)
        assert held(make_mocked_request("GET", PART)) and held(make_mocked_request("GET", RENDITION_PART))
        assert held(make_mocked_request("GET", DASH_SEGMENT)) is dash
        assert not any(held(make_mocked_request("GET", path)) for path in OTHERS)


def test_only_low_latency_dash_segments_are_answered_on_the_faces_loop():
    """An LL-HLS part waits on its packager's events, bound to the worker's loop: answered on the
    face's loop it bound them there and every blocking reload after it failed with 500 (ci70)."""
    for dash in (False, True):
        on_face = answered_on_the_face(dash)
        assert not on_face(make_mocked_request("GET", PART))
        assert on_face(make_mocked_request("GET", DASH_SEGMENT)) is dash
