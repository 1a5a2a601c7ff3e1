"""An encrypted stream's HLS answers (media/ingest/encrypted_hls.py): the ciphertext kept for objects
served lately (each object encrypted once per key, a changed file or another part's bytes again,
within the byte limit), a playlist's key lines made once per text, and a ladder's rendition through
the routes in process (key URIs, the key, a segment that decrypts to its file, clear init)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.media.aes_cbc import aes_128_cbc
from streamops.media.ingest.encrypted_hls import PLAYLISTS_KEPT, EncryptedHls, EncryptedObjects, _segment_msn
from streamops.media.ingest.encryption import KeyRing
from streamops.media.ingest.feed import FeedHub
from streamops.media.ingest.playback_access import PlaybackGate
from streamops.media.ingest.routes import add_playback_routes
from streamops.media.ingest.served_media import ServedMedia
from streamops.media.ingest.webrtc.ice_servers import IceServersFile


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


def test_an_encrypted_ladder_s_rendition_playlist_segments_and_keys_through_the_routes(tmp_path: Path):
    """The routes of an encrypted stream with a rendition, in process (no FFmpeg): the rendition's
    playlist names its keys three levels up (inside the token segment), its segment decrypts to the
    file, the init segment and the multivariant playlist are served as they are, the key answers."""
    config = IngestConfig.model_validate(
        {
            "stream": "cam",
            "source": {"push": {}},
            "hls": {"mpegts": False},
            "transcoding": {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]},
            "encryption": {"rotateSeconds": 10},
        }
    )
    log = logging.getLogger("test.encrypted")
    served = ServedMedia(FeedHub(), FeedHub())
    session = tmp_path / "session"
    (session / "cmaf" / "360p").mkdir(parents=True)
    (session / "cmaf" / "index.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n")
    (session / "cmaf" / "360p" / "index.m3u8").write_text(
        '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:40\n#EXT-X-MAP:URI="init.mp4"\n'
        "#EXTINF:2.000000,\nseg-40.m4s\n"
    )
    (session / "cmaf" / "360p" / "init.mp4").write_bytes(b"\x00\x00\x00\x08ftyp")
    (session / "cmaf" / "360p" / "seg-40.m4s").write_bytes(b"\x00\x00\x00\x08moof" * 100)
    served.dir = session
    app = web.Application()
    gate = PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)
    add_playback_routes(app, config, gate, served, tmp_path / "shot.jpg", IceServersFile(None, log))

    async def check(client: TestClient[Any, Any]) -> None:
        multivariant = await client.get("/t/any/hls/cmaf/index.m3u8")
        assert "EXT-X-KEY" not in await multivariant.text()
        text = await (await client.get("/t/any/hls/cmaf/360p/index.m3u8")).text()
        found = re.search(r'#EXT-X-KEY:METHOD=AES-128,URI="\.\./\.\./\.\./key/([0-9a-f]+-\d+)",IV=0x(\w{32})', text)
        assert found is not None, text
        assert text.index("#EXT-X-MAP") < text.index("#EXT-X-KEY"), "the init segment stays clear"
        key_answer = await client.get(f"/t/any/key/{found.group(1)}")
        assert key_answer.status == 200 and key_answer.headers["Cache-Control"] == "private, no-store"
        key = await key_answer.read()
        segment = await (await client.get("/t/any/hls/cmaf/360p/seg-40.m4s")).read()
        clear = (session / "cmaf" / "360p" / "seg-40.m4s").read_bytes()
        assert segment != clear and aes_128_cbc(segment, key, bytes.fromhex(found.group(2)), decrypt=True) == clear
        assert await (await client.get("/t/any/hls/cmaf/360p/init.mp4")).read() == b"\x00\x00\x00\x08ftyp"
        assert (await client.get("/key/00000000-1")).status == 404

    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())
