"""An encrypted stream's playlists (media/ingest/encrypted_playlist.py): an EXT-X-KEY where the key
changes, before the segment's first tag (so its parts are under it), METHOD=NONE before each
EXT-X-MAP (clear init segments), delta updates and preload hints numbered right, the multivariant
playlist untouched; and what hls.js's parser makes of it (each segment's key)."""

from __future__ import annotations

from streamops.media.ingest.encrypted_playlist import NO_KEY, key_uri_base, with_keys
from streamops.media.ingest.encryption import ContentKey

KEYS: dict[int, ContentKey] = {}


def key_for(msn: int) -> ContentKey:
    """Epochs of three segments, a deterministic key per epoch."""
    epoch = msn // 3
    return KEYS.setdefault(epoch, ContentKey(f"0a1b2c3d-{epoch}", bytes([epoch % 256]) * 16, bytes([1]) * 16))


def line_of(msn: int, base: str = "../../key/") -> str:
    key = key_for(msn)
    return f'#EXT-X-KEY:METHOD=AES-128,URI="{base}{key.kid}",IV=0x{"01" * 16}'


def keys_by_segment(text: str) -> dict[str, str | None]:
    """What a player reads: each segment URI (and part URI) with the key line in force at it."""
    in_force: str | None = None
    found: dict[str, str | None] = {}
    for line in text.splitlines():
        if line.startswith("#EXT-X-KEY:"):
            in_force = None if line == NO_KEY else line
        elif line.startswith("#EXT-X-MAP:"):
            found[line] = in_force
        elif line.startswith("#EXT-X-PART:"):
            found[line.split('URI="')[1].split('"')[0]] = in_force
        elif line and not line.startswith("#"):
            found[line] = in_force
    return found


TS = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:00.000Z
#EXTINF:2.000000,
seg-7.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:02.000Z
#EXTINF:2.000000,
seg-8.ts
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:04.000Z
#EXTINF:2.000000,
seg-9.ts
#EXTINF:2.000000,
seg-10.ts
"""


def test_a_key_line_where_the_key_changes_before_the_segment_s_first_tag():
    out = with_keys(TS, key_for, "../../key/")
    lines = out.splitlines()
    assert lines.count(line_of(7)) == 1 and lines.count(line_of(9)) == 1
    assert lines[lines.index(line_of(7)) + 1] == "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:00.000Z"
    assert lines[lines.index(line_of(9)) + 1] == "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:04.000Z"
    assert keys_by_segment(out) == {
        "seg-7.ts": line_of(7),
        "seg-8.ts": line_of(8),
        "seg-9.ts": line_of(9),
        "seg-10.ts": line_of(10),
    }
    assert out.replace(line_of(7) + "\n", "").replace(line_of(9) + "\n", "") == TS, "nothing else changes"


CMAF_ACROSS_SESSIONS = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init-1.mp4"
#EXTINF:2.000000,
seg-4.m4s
#EXTINF:2.000000,
seg-5.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-6.mp4"
#EXTINF:2.000000,
seg-6.m4s
"""


def test_every_init_segment_is_clear_and_the_key_comes_back_after_it():
    out = with_keys(CMAF_ACROSS_SESSIONS, key_for, "../../key/")
    found = keys_by_segment(out)
    assert found['#EXT-X-MAP:URI="init-1.mp4"'] is None and found['#EXT-X-MAP:URI="init-6.mp4"'] is None
    assert found["seg-4.m4s"] == found["seg-5.m4s"] == line_of(4) and found["seg-6.m4s"] == line_of(6)
    assert out.index(NO_KEY) < out.index('init-6.mp4"') and out.count(NO_KEY) == 1


LL = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.600
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:08.000Z
#EXT-X-PART:DURATION=0.20000,URI="part-40.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part-41.m4s"
#EXTINF:0.40000,
seg-4.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:08.400Z
#EXT-X-PART:DURATION=0.20000,URI="part-42.m4s",INDEPENDENT=YES
#EXTINF:0.20000,
seg-5.m4s
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-43.m4s"
"""


def test_ll_hls_parts_and_the_preload_hint_are_under_their_segment_s_key_after_a_skip():
    out = with_keys(LL, key_for, "../../key/")
    found = keys_by_segment(out)
    # The skip: the first listed segment is 1 + 3 = 4; 4 and 5 share an epoch, the hint is segment 6's.
    assert found["part-40.m4s"] == found["part-41.m4s"] == found["seg-4.m4s"] == line_of(4)
    assert found["part-42.m4s"] == found["seg-5.m4s"] == line_of(5) == line_of(4)
    lines = out.splitlines()
    assert lines[-2] == line_of(6) and lines[-1].startswith("#EXT-X-PRELOAD-HINT"), out
    assert lines.index(line_of(4)) < lines.index("#EXT-X-PROGRAM-DATE-TIME:2026-11-30T00:00:08.000Z")


def test_a_multivariant_playlist_and_one_without_segments_pass_unchanged():
    multivariant = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n"
    empty = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
    assert with_keys(multivariant, key_for, "../../key/") == multivariant
    assert with_keys(empty, key_for, "../../key/") == empty


def test_a_segment_whose_key_is_forgotten_is_listed_without_one():
    out = with_keys(TS, lambda msn: None if msn < 9 else key_for(msn), "../../key/")
    found = keys_by_segment(out)
    assert found["seg-7.ts"] is None and found["seg-8.ts"] is None and found["seg-9.ts"] == line_of(9)
    assert NO_KEY not in out, "no METHOD=NONE needed before any key was in force"


def test_the_key_uri_is_relative_inside_the_token_segment():
    assert key_uri_base(None) == "../../key/"  # <prefix>/t/<token>/hls/cmaf/index.m3u8 -> <prefix>/t/<token>/key/
    assert key_uri_base("360p") == "../../../key/"
    out = with_keys(TS, key_for, key_uri_base("360p"))
    assert line_of(7, "../../../key/") in out.splitlines()
