"""The ciphertext kept for objects served lately (media/ingest/encrypted_hls.py): each object is
encrypted once per key, a changed file or another part's bytes again, within the byte limit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from aiohttp import web
from streamops.media.aes_cbc import aes_128_cbc
from streamops.media.ingest.encrypted_hls import PLAYLISTS_KEPT, EncryptedHls, EncryptedObjects, _segment_msn
from streamops.media.ingest.encryption import KeyRing


def run(objects: EncryptedObjects, response: web.StreamResponse, ring: KeyRing, msn: int) -> bytes:
    key = ring.for_segment(msn)
    assert key is not None
    return asyncio.run(objects.encrypted(response, key))


def test_a_part_is_encrypted_once_and_decrypts_to_its_bytes():
    ring, objects = KeyRing(2, 10), EncryptedObjects()
    body = os.urandom(20_000)
    first = run(objects, web.Response(body=body), ring, 10)
    assert run(objects, web.Response(body=body), ring, 11) is first, "the same bytes under the same key: kept"
    key = ring.for_segment(10)
    assert key is not None and aes_128_cbc(first, key.key, key.iv, decrypt=True) == body
    assert run(objects, web.Response(body=body), ring, 12) is not first, "another key: encrypted again"
    assert run(objects, web.Response(body=bytes(bytearray(body))), ring, 10) is not first, "another part: again"


def test_a_file_is_encrypted_again_once_it_changed(tmp_path: Path):
    ring, objects = KeyRing(1, 10), EncryptedObjects()
    path = tmp_path / "seg-5.ts"
    path.write_bytes(b"a" * 1000)
    first = run(objects, web.FileResponse(path), ring, 5)
    assert run(objects, web.FileResponse(path), ring, 5) is first
    path.write_bytes(b"b" * 2000)
    second = run(objects, web.FileResponse(path), ring, 5)
    key = ring.for_segment(5)
    assert key is not None and aes_128_cbc(second, key.key, key.iv, decrypt=True) == b"b" * 2000
    path.unlink()
    with pytest.raises(web.HTTPNotFound):
        run(objects, web.FileResponse(path), ring, 5)


def test_the_kept_ciphertext_stays_within_its_limit():
    ring, objects = KeyRing(1, 10), EncryptedObjects(limit=10_000)
    bodies = [os.urandom(3000) for _ in range(10)]
    for body in bodies:
        run(objects, web.Response(body=body), ring, 1)
    assert objects.size <= 10_000 and objects.size == 3 * 3008
    run(objects, web.Response(body=os.urandom(20_000)), ring, 1)  # larger than the limit: not kept
    assert objects.size <= 10_000


@pytest.mark.parametrize(
    ("name", "msn"),
    [
        ("seg-17.ts", 17),
        ("seg-1764300000.m4s", 1764300000),
        ("init-3.mp4", None),
        ("part-4.m4s", None),
        ("seg-.ts", None),
    ],
)
def test_a_segment_s_sequence_number_is_its_name_s(name: str, msn: int | None):
    assert _segment_msn(name) == msn


def test_a_playlist_s_key_lines_are_made_once_for_the_viewers_that_get_the_same_text():
    hls = EncryptedHls(KeyRing(1, 10), continuity=None)  # type: ignore[arg-type]  # playlists only
    text = b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\nseg-7.ts\n"
    first = hls._keyed(text, "../../key/")
    assert b"#EXT-X-KEY:METHOD=AES-128" in first and hls._keyed(bytes(bytearray(text)), "../../key/") is first
    assert hls._keyed(text, "../../../key/") is not first, "a rendition's playlist: its own key URIs"
    for n in range(PLAYLISTS_KEPT + 1):
        hls._keyed(text.replace(b"7", str(100 + n).encode()), "../../key/")
    assert hls._keyed(text, "../../key/") is not first, "only the last few are kept"
