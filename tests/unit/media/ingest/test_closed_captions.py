"""Captions seen in the feed's bytes (closed_captions.py), on the SEI a broadcast encoder writes."""

from __future__ import annotations

from devtools.media.captions import a53_sei, pop_on_caption
from streamops.media.ingest.closed_captions import carries_captions

X264_SEI = b"\x00\x00\x00\x01\x06\x05\x2a" + b"\xdc\x45\xe9\xbd\xe6\xd9\x48\xb7" * 2 + b"x264 - core 164"


def test_a_caption_sei_anywhere_in_a_chunk_is_seen():
    sei = a53_sei(pop_on_caption("HELLO")[0])
    assert carries_captions(b"\x47" + bytes(200) + sei + bytes(100))
    assert carries_captions(a53_sei(None)), "padding between captions says the service is there"


def test_video_without_caption_sei_is_not_taken_for_captions():
    assert not carries_captions(X264_SEI + bytes(range(256)) * 40)
    assert not carries_captions(a53_sei(None)[:14]), "a header cut by a read is missed, not misread"
