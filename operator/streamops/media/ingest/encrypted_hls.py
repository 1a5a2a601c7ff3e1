"""An encrypted stream's HLS at the public face (spec.playback.encryption): the media playlists gain
their EXT-X-KEY lines (encrypted_playlist.py), segments and LL-HLS parts are encrypted as they are
served (AES-128-CBC, the key and IV of their media sequence number), init segments and the
multivariant playlist stay as they are, and <prefix>/key/<id> hands out a key behind the same
playback gate as the media (token, rules). The files on disk — the DVR window, what a clip or a
recording reads — stay clear. Why: docs/design/protection.md.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from streamops.api.livestream_media import PlaybackEncryption
from streamops.contract.ingest import IngestConfig
from streamops.media.aes_cbc import aes_128_cbc
from streamops.media.ingest.continuity import Continuity
from streamops.media.ingest.encrypted_playlist import key_uri_base, with_keys
from streamops.media.ingest.encryption import ContentKey, KeyRing, segments_per_key
from streamops.media.ingest.hls_timeline import SEGMENT_PREFIX, SEGMENTS_KEPT_BEYOND_WINDOW
from streamops.media.ingest.llhls.playlist import part_number
from streamops.media.ingest.playback_access import PlaybackGate

KEY_PATH = "/key/{kid}"
KEY_CONTENT_TYPE = "application/octet-stream"
KEY_CACHE_CONTROL = "private, no-store"  # a key is the viewer's: never kept by a shared cache (nor the browser)
# Ciphertext kept for the objects served lately: each encrypted once, not once per viewer (a direct
# LL-HLS viewer asks for ~5 parts a second). 64 MiB: about 30 s of a 15 Mbit/s ladder's parts and segments.
ENCRYPTED_BYTES_KEPT = 64 << 20
PLAYLISTS_KEPT = 32  # keyed playlists, by their text: the newest of each rendition, blocking reloads and deltas


def key_ring(
    encryption: PlaybackEncryption,
    segment_seconds: int,
    window_segments: int,
    stream: str = "",
    masters: Callable[[], Sequence[bytes]] | None = None,
) -> KeyRing:
    """The stream's keys: the DVR window's epochs, the files kept beyond it, and a few more;
    `masters`: a signed stream's signing keys (encryption.py derives its keys from them)."""
    per_key = segments_per_key(encryption.rotate_seconds, segment_seconds)
    kept = (window_segments + SEGMENTS_KEPT_BEYOND_WINDOW + per_key - 1) // per_key + 3
    return KeyRing(per_key, kept, stream, masters)


def stream_key_ring(config: IngestConfig, continuity: Continuity, gate: PlaybackGate) -> KeyRing | None:
    """An encrypted stream's keys (None: not encrypted): a signed stream's derive from its signing
    keys (the gate's), a public one's are random (and handed over: handover.py)."""
    if config.encryption is None:
        return None
    masters = gate.keys.keys if gate.keys is not None else None
    return key_ring(config.encryption, config.hls.segment_seconds, continuity.window, gate.stream, masters)


def _segment_msn(name: str) -> int | None:
    """seg-<n>.<ext>: the served media sequence number (the standard variants' and the packager's)."""
    digits = name.removeprefix(SEGMENT_PREFIX).split(".")[0]
    return int(digits) if name.startswith(SEGMENT_PREFIX) and digits.isdigit() else None


class EncryptedObjects:
    """The ciphertext of objects served lately, by (object, key id), up to `limit` bytes (least
    recently served dropped first). An object is a file (known by its path, checked by mtime and size)
    or a part's bytes (known by the very bytes object the packager holds, kept alive by the entry)."""

    def __init__(self, limit: int = ENCRYPTED_BYTES_KEPT) -> None:
        self.limit, self.size = limit, 0
        self._entries: OrderedDict[tuple[str, str], tuple[object, bytes]] = OrderedDict()

    async def encrypted(self, response: web.StreamResponse, key: ContentKey) -> bytes:
        path: Path | None = getattr(response, "_path", None) if isinstance(response, web.FileResponse) else None
        body = getattr(response, "body", None)
        version: object
        if path is not None:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                raise web.HTTPNotFound() from None
            ident, version = (f"file:{path}", key.kid), (stat.st_mtime_ns, stat.st_size)
        elif isinstance(body, bytes):
            ident, version = (f"bytes:{id(body)}", key.kid), body
        else:
            raise web.HTTPInternalServerError(text="an HLS answer that is neither a file nor bytes")
        cached = self._entries.get(ident)
        if cached is not None and (cached[0] is version or cached[0] == version):
            self._entries.move_to_end(ident)
            return cached[1]
        if path is not None:
            data = await asyncio.to_thread(lambda: aes_128_cbc(path.read_bytes(), key.key, key.iv))
        else:
            assert isinstance(body, bytes)
            data = await asyncio.to_thread(aes_128_cbc, body, key.key, key.iv)
        self._keep(ident, version, data)
        return data

    def _keep(self, ident: tuple[str, str], version: object, data: bytes) -> None:
        old = self._entries.pop(ident, None)
        if old is not None:
            self.size -= len(old[1])
        if len(data) > self.limit:
            return
        self._entries[ident] = (version, data)
        self.size += len(data)
        while self.size > self.limit:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.size -= len(dropped)


class EncryptedHls:
    def __init__(self, ring: KeyRing, continuity: Continuity) -> None:
        self.ring, self.continuity = ring, continuity
        self.objects = EncryptedObjects()
        self._playlists: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()

    def wrap(self, handler: Handler) -> Handler:
        """The HLS route's `handler`, its 200 answers encrypted or keyed."""

        async def encrypted(request: web.Request) -> web.StreamResponse:
            response = await handler(request)
            if response.status != 200 or request.method not in ("GET", "HEAD"):
                return response
            name, rendition = request.match_info["name"], request.match_info.get("rendition")
            if name.endswith(".m3u8"):
                body = getattr(response, "body", None)
                if not isinstance(response, web.Response) or not isinstance(body, bytes):
                    return response  # a file: the multivariant playlist (no segments)
                response.body = self._keyed(body, key_uri_base(rendition))
                return response
            msn = self._msn(name, rendition or "")
            if msn is None:
                return response  # init segments
            key = self.ring.for_segment(msn)
            if key is None:
                raise web.HTTPNotFound()  # its key is forgotten: it left the window long ago
            answer = web.Response(body=await self.objects.encrypted(response, key), content_type=response.content_type)
            if response.last_modified is not None:
                answer.last_modified = response.last_modified
            if response.keep_alive is False:  # a released handover predecessor's (routes.MediaFiles.hls)
                answer.force_close()
            return answer

        return encrypted

    def _keyed(self, playlist: bytes, uri_base: str) -> bytes:
        """`playlist` with its key lines; the last few kept: the viewers blocking on one part all get
        the same text (83 µs a playlist of 150 parts: docs/design/protection.md)."""
        ident = (uri_base, playlist)
        found = self._playlists.get(ident)
        if found is None:
            found = with_keys(playlist.decode(), self.ring.for_segment, uri_base).encode()
            self._playlists[ident] = found
            while len(self._playlists) > PLAYLISTS_KEPT:
                self._playlists.popitem(last=False)
        return found

    def _msn(self, name: str, rendition: str) -> int | None:
        """The media sequence number whose key encrypts `name`; None: served clear."""
        if (msn := _segment_msn(name)) is not None:
            return msn
        number = part_number(name)
        packager = self.continuity.packagers.get(rendition)
        if number is None or packager is None:
            return None
        for segment in reversed(packager.segments):
            if any(p.number == number for p in segment.parts):
                return segment.msn
        if (msn := self.continuity.segment_of_part(rendition, number)) is not None:
            return msn  # a part of an earlier session's or a mirrored predecessor's segment (handover.md)
        raise web.HTTPNotFound()  # a part no longer listed: its segment is what is served now

    async def key(self, request: web.Request) -> web.StreamResponse:
        found = self.ring.by_id(request.match_info["kid"])
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found.key, content_type=KEY_CONTENT_TYPE, headers={"Cache-Control": KEY_CACHE_CONTROL})
