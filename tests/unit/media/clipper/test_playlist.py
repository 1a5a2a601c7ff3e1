"""The clipper's reading of a media playlist (media/clipper/playlist.py): segments with their wall
clock from PROGRAM-DATE-TIME, the ones covering a range, the window checks, CMAF's init segment, and
the playlists it cannot use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamops.media.clipper.playlist import (
    PlaylistError,
    covering,
    holds_end,
    parse_media_playlist,
    start_outside_window,
)

CREATED = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:1764151200
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000+0000
#EXTINF:2.000000,
seg-000001.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:02.000+0000
#EXTINF:2.000000,
seg-000002.ts
#EXTINF:1.960000,
seg-000003.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:05.960+0000
#EXTINF:2.040000,
seg-000004.ts
"""

URL = "http://cam-ingest.studio.svc:8080/hls/ts/index.m3u8"


def test_segments_get_their_wall_clock_and_absolute_uris():
    playlist = parse_media_playlist(PLAYLIST, URL)
    starts = [s.start for s in playlist.segments]
    assert starts[2] == CREATED + timedelta(seconds=4), "no PROGRAM-DATE-TIME: where the previous one ended"
    assert starts[3] == CREATED + timedelta(seconds=5.96)
    assert playlist.segments[0].uri == "http://cam-ingest.studio.svc:8080/hls/ts/seg-000001.ts"
    assert playlist.window_end == CREATED + timedelta(seconds=8) and not playlist.ended


@pytest.mark.parametrize(
    ("start", "end", "numbers"),
    [
        (0.0, 8.0, [1, 2, 3, 4]),
        (2.5, 4.5, [2, 3]),  # the segment holding the start (its keyframe is at or before it) to the end's
        (2.0, 4.0, [2]),  # a start on a boundary needs nothing earlier, an end on one nothing later
        (7.9, 9.0, [4]),
    ],
)
def test_covering_picks_the_segments_of_the_range(start, end, numbers):
    segments = parse_media_playlist(PLAYLIST, URL).segments
    chosen = covering(segments, CREATED + timedelta(seconds=start), CREATED + timedelta(seconds=end))
    assert [int(s.uri[-9:-3]) for s in chosen] == numbers


def test_window_checks():
    playlist = parse_media_playlist(PLAYLIST, URL)
    assert not start_outside_window(playlist, CREATED - timedelta(seconds=0.4)), "within the slack"
    assert start_outside_window(playlist, CREATED - timedelta(seconds=2))
    assert holds_end(playlist, CREATED + timedelta(seconds=8))
    assert not holds_end(playlist, CREATED + timedelta(seconds=9))


def test_cmaf_playlist_keeps_its_init_segment():
    text = PLAYLIST.replace("#EXT-X-VERSION:3", '#EXT-X-VERSION:7\n#EXT-X-MAP:URI="init.mp4"') + "#EXT-X-ENDLIST\n"
    playlist = parse_media_playlist(text, URL.replace("/ts/", "/cmaf/"))
    assert playlist.init_uri == "http://cam-ingest.studio.svc:8080/hls/cmaf/init.mp4" and playlist.ended


def test_each_segment_keeps_its_sessions_init_segment():
    """The ingest serves earlier sessions' segments too, each session with its own EXT-X-MAP."""
    text = (
        '#EXTM3U\n#EXT-X-MAP:URI="init-7.mp4"\n#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:00.000Z\n#EXTINF:2.0,\n'
        'seg-7.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-8.mp4"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-29T21:00:05.000Z\n#EXTINF:2.0,\nseg-8.m4s\n"
    )
    segments = parse_media_playlist(text, URL.replace("/ts/", "/cmaf/")).segments
    assert [s.init_uri.rsplit("/", 1)[1] for s in segments if s.init_uri] == ["init-7.mp4", "init-8.mp4"]
    assert [s.discontinuity for s in segments] == [False, True]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("#EXTM3U\n#EXTINF:2.0,\nseg-1.ts\n", "no EXT-X-PROGRAM-DATE-TIME"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n", "multivariant"),
        ("<html>", "not an HLS playlist"),
    ],
)
def test_playlists_the_clipper_cannot_use(text, says):
    with pytest.raises(PlaylistError, match=says):
        parse_media_playlist(text, URL)


ENCRYPTED = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-MAP:URI="init-1.mp4"
#EXT-X-KEY:METHOD=AES-128,URI="../../key/0a1b2c3d-20",IV=0x000102030405060708090a0b0c0d0e0f
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:00.000Z
#EXTINF:2.000000,
seg-100.m4s
#EXT-X-KEY:METHOD=AES-128,URI="../../key/0a1b2c3d-21"
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:02.000Z
#EXTINF:2.000000,
seg-101.m4s
#EXT-X-KEY:METHOD=NONE
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-102.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T10:00:04.000Z
#EXTINF:2.000000,
seg-102.m4s
"""


def test_an_encrypted_stream_s_segments_carry_their_key_and_sequence():
    url = "http://cam-ingest:8080/t/tok/hls/cmaf/index.m3u8"
    first, second, third = parse_media_playlist(ENCRYPTED, url).segments
    assert first.key is not None and first.key.uri == "http://cam-ingest:8080/t/tok/key/0a1b2c3d-20"
    assert first.key.iv == bytes(range(16)) and first.sequence == 100
    assert second.key is not None and second.key.iv is None and second.sequence == 101  # the IV: its sequence
    assert third.key is None and third.init_uri == "http://cam-ingest:8080/t/tok/hls/cmaf/init-102.mp4"


def test_a_method_the_clipper_cannot_decrypt_is_refused():
    text = ENCRYPTED.replace("METHOD=AES-128,", "METHOD=SAMPLE-AES,", 1)
    with pytest.raises(PlaylistError, match="SAMPLE-AES"):
        parse_media_playlist(text, "http://cam-ingest:8080/hls/cmaf/index.m3u8")
